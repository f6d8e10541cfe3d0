#version 450
/* Matmul for CPU-emulated devices (lavapipe): operands are read through
 * texel buffers (see common.glsl) and there is no shared memory or barrier,
 * both slow there. Each invocation keeps a TM x TN block of d in registers:
 * TM consecutive rows m of its own and the TN columns n of its workgroup,
 * so one k step costs TM + TN vec4 fetches for 4*TM*TN FMAs. */
#define TEXEL_READS
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
const uint A_HALF = 0; /* texel reads: F32 only (matmul_common.glsl) */
#include "matmul_common.glsl"

layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TN = 8;
layout(constant_id = 3) const uint VEC4 = 0;

void main()
{
    const uint m0 = (gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * TM;
    const uint n0 = gl_WorkGroupID.y * TN, z = gl_WorkGroupID.z;
    const uint ab = batch_a(z), bb = batch_b(z);

    /* rows and columns past the end repeat the last one and are not stored */
    uint ar[TM], br[TN];
    [[unroll]] for (uint i = 0; i < TM; i++)
        ar[i] = ab + min(m0 + i, p.M - 1) * p.a_sm;
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
                va[i] = LD4(a, ar[i] + k);
            [[unroll]] for (uint j = 0; j < TN; j++)
                vb[j] = LD4(b, br[j] + k);
            [[unroll]] for (uint j = 0; j < TN; j++) {
                [[unroll]] for (uint i = 0; i < TM; i++) {
                    float s = acc[j * TM + i];
                    s = fma(va[i].x, vb[j].x, s);
                    s = fma(va[i].y, vb[j].y, s);
                    s = fma(va[i].z, vb[j].z, s);
                    acc[j * TM + i] = fma(va[i].w, vb[j].w, s);
                }
            }
        }
    } else {
        for (uint k = 0; k < p.K; k++) {
            float va[TM], vb[TN];
            [[unroll]] for (uint i = 0; i < TM; i++)
                va[i] = LD(a, ar[i] + k * p.a_sk);
            [[unroll]] for (uint j = 0; j < TN; j++)
                vb[j] = LD(b, br[j] + k * p.b_sk);
            [[unroll]] for (uint j = 0; j < TN; j++)
                [[unroll]] for (uint i = 0; i < TM; i++)
                    acc[j * TM + i] = fma(va[i], vb[j], acc[j * TM + i]);
        }
    }

    const uint db = batch_d(z);
    [[unroll]] for (uint j = 0; j < TN; j++)
        [[unroll]] for (uint i = 0; i < TM; i++)
            if (m0 + i < p.M && n0 + j < p.N)
                store(db, m0 + i, n0 + j, acc[j * TM + i]);
}
