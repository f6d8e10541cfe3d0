#version 450
/* Matmul for CPU-emulated devices (lavapipe): no shared memory or barriers,
 * which are slow there. Each invocation owns TM rows of a (m strided by WG)
 * and all TN columns n of its workgroup; the b loads depend only on the
 * workgroup id, so the compiler turns them into scalar loads broadcast to
 * the SIMD lanes, and only a is gathered per lane. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul_common.glsl"

layout(constant_id = 1) const uint TM = 2;
layout(constant_id = 2) const uint TN = 4;
layout(constant_id = 3) const uint VEC4 = 0;

void main()
{
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint m0 = gl_WorkGroupID.x * WG * TM + lid, n0 = gl_WorkGroupID.y * TN, z = gl_WorkGroupID.z;
    const uint ab = batch_a(z), bb = batch_b(z);

    /* out-of-range rows and columns compute on the last one and are not stored */
    uint ar[TM], br[TN];
    [[unroll]] for (uint i = 0; i < TM; i++)
        ar[i] = ab + min(m0 + i * WG, p.M - 1) * p.a_sm;
    [[unroll]] for (uint j = 0; j < TN; j++)
        br[j] = bb + min(n0 + j, p.N - 1) * p.b_sn;

    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++)
        acc[i] = 0.0;

    if (VEC4 != 0) {
        [[unroll]] for (uint i = 0; i < TM; i++)
            ar[i] /= 4;
        [[unroll]] for (uint j = 0; j < TN; j++)
            br[j] /= 4;
        for (uint k = 0; k < p.K / 4; k++) {
            vec4 va[TM], vb[TN];
            [[unroll]] for (uint i = 0; i < TM; i++)
                va[i] = a4[ar[i] + k];
            [[unroll]] for (uint j = 0; j < TN; j++)
                vb[j] = b4[br[j] + k];
            [[unroll]] for (uint j = 0; j < TN; j++)
                [[unroll]] for (uint i = 0; i < TM; i++)
                    acc[j * TM + i] += dot(va[i], vb[j]);
        }
    } else {
        for (uint k = 0; k < p.K; k++) {
            float va[TM], vb[TN];
            [[unroll]] for (uint i = 0; i < TM; i++)
                va[i] = a[ar[i] + k * p.a_sk];
            [[unroll]] for (uint j = 0; j < TN; j++)
                vb[j] = b[br[j] + k * p.b_sk];
            [[unroll]] for (uint j = 0; j < TN; j++)
                [[unroll]] for (uint i = 0; i < TM; i++)
                    acc[j * TM + i] = fma(va[i], vb[j], acc[j * TM + i]);
        }
    }

    const uint db = batch_d(z);
    [[unroll]] for (uint j = 0; j < TN; j++) {
        const uint n = n0 + j;
        [[unroll]] for (uint i = 0; i < TM; i++) {
            const uint m = m0 + i * WG;
            if (m < p.M && n < p.N)
                store(db, m, n, acc[j * TM + i]);
        }
    }
}
