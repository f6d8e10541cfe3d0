#version 450
/* Tiled matmul for GPUs: a BM x BN tile of d per workgroup, BK-deep slabs of
 * a and b staged in shared memory, TM x TN results per invocation held in
 * registers (strided by BM/TM and BN/TN so shared reads do not conflict).
 * Tile sizes are specialization constants the host derives from the
 * device's shared memory and invocation limits. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 7) const uint A_HALF = 0; /* see matmul_common.glsl */
#include "matmul_common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint VEC4 = 0;

const uint WM = BM / TM; /* invocations along m; WG == WM * (BN / TN) */
const uint WN = BN / TN;

shared float As[BK * BM]; /* [k][m] */
shared float Bs[BK * BN]; /* [k][n] */

/* Stages rows r0.. of one operand (R rows of K, strides sk/sr) as S[k][r]. */
#define LOAD_TILE(S, R, X, base, r0, rows, sk, sr, k0)                                      \
    if (VEC4 != 0) {                                                                     \
        for (uint idx = lid; idx < R * BK / 4; idx += WG) {                              \
            const uint kq = idx % (BK / 4), rr = idx / (BK / 4);                         \
            const uint r = r0 + rr, k = k0 + 4 * kq;                                     \
            const vec4 v = r < rows && k < p.K ? X##_ld4((base + r * sr + k) / 4) : vec4(0.0); \
            S[(4 * kq + 0) * R + rr] = v.x;                                              \
            S[(4 * kq + 1) * R + rr] = v.y;                                              \
            S[(4 * kq + 2) * R + rr] = v.z;                                              \
            S[(4 * kq + 3) * R + rr] = v.w;                                              \
        }                                                                                \
    } else if (sr == 1) {                                                                \
        for (uint idx = lid; idx < R * BK; idx += WG) {                                  \
            const uint rr = idx % R, kk = idx / R;                                       \
            const uint r = r0 + rr, k = k0 + kk;                                         \
            S[kk * R + rr] = r < rows && k < p.K ? X##_ld(base + r + k * sk) : 0.0;       \
        }                                                                                \
    } else {                                                                             \
        for (uint idx = lid; idx < R * BK; idx += WG) {                                  \
            const uint kk = idx % BK, rr = idx / BK;                                     \
            const uint r = r0 + rr, k = k0 + kk;                                         \
            S[kk * R + rr] = r < rows && k < p.K ? X##_ld(base + r * sr + k * sk) : 0.0;  \
        }                                                                                \
    }

void main()
{
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint tm = lid % WM, tn = lid / WM;
    const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN, z = gl_WorkGroupID.z;
    const uint ab = batch_a(z), bb = batch_b(z);

    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++)
        acc[i] = 0.0;
    float ra[TM], rb[TN];

    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        LOAD_TILE(As, BM, a, ab, m0, p.M, p.a_sk, p.a_sm, k0)
        LOAD_TILE(Bs, BN, b, bb, n0, p.N, p.b_sk, p.b_sn, k0)
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; kk++) {
            [[unroll]] for (uint i = 0; i < TM; i++)
                ra[i] = As[kk * BM + tm + i * WM];
            [[unroll]] for (uint j = 0; j < TN; j++)
                rb[j] = Bs[kk * BN + tn + j * WN];
            [[unroll]] for (uint j = 0; j < TN; j++)
                [[unroll]] for (uint i = 0; i < TM; i++)
                    acc[j * TM + i] = fma(ra[i], rb[j], acc[j * TM + i]);
        }
        barrier();
    }

    const uint db = batch_d(z);
    [[unroll]] for (uint j = 0; j < TN; j++) {
        const uint n = n0 + tn + j * WN;
        [[unroll]] for (uint i = 0; i < TM; i++) {
            const uint m = m0 + tm + i * WM;
            if (m < p.M && n < p.N)
                store(db, m, n, acc[j * TM + i]);
        }
    }
}
