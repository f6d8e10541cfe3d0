#version 450
/* Matmul with few columns (N <= NMAX: decoding steps) on GPUs: one
 * workgroup per row m, the invocations split K (vec4 loads when allowed)
 * and a workgroup reduction combines them. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

layout(constant_id = 1) const uint NMAX = 4;
layout(constant_id = 2) const uint VEC4 = 0;
layout(constant_id = 3) const uint A_HALF = 0; /* see matmul_common.glsl */
#include "matmul_common.glsl"

void main()
{
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint m = mm_group_linear(), z = gl_WorkGroupID.z;
    if (m >= p.M)
        return; /* whole workgroup */
    const uint ar = batch_a(z) + m * p.a_sm, bb = batch_b(z);

    float acc[NMAX];
    [[unroll]] for (uint j = 0; j < NMAX; j++)
        acc[j] = 0.0;

    if (VEC4 != 0) {
        for (uint k = lid; k < p.K / 4; k += WG) {
            const vec4 va = a_ld4(ar / 4 + k);
            [[unroll]] for (uint j = 0; j < NMAX; j++)
                if (j < p.N)
                    acc[j] += dot(va, LD4(b, (bb + j * p.b_sn) / 4 + k));
        }
    } else {
        for (uint k = lid; k < p.K; k += WG) {
            const float va = a_ld(ar + k * p.a_sk);
            [[unroll]] for (uint j = 0; j < NMAX; j++)
                if (j < p.N)
                    acc[j] = fma(va, LD(b, bb + j * p.b_sn + k * p.b_sk), acc[j]);
        }
    }

    const uint db = batch_d(z);
    [[unroll]] for (uint j = 0; j < NMAX; j++) {
        if (j < p.N) { /* uniform */
            const float s = wg_sum(acc[j]);
            if (lid == 0)
                store(db, m, j, s);
        }
    }
}
