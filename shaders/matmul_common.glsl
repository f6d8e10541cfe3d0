/* Bindings and parameters shared by the matmul kernels:
 * d[n,m] = sum_k a[m,k] * b[n,k] (+ bias[m] or bias[n]) for each batch z.
 * All strides are in elements; VEC4 kernels need a_sk == b_sk == 1, K % 4 == 0
 * and every row start 16-byte aligned (the host checks). */
IN_BUF(0, a);
IN_BUF(1, b);
IN_BUF(2, bias);
layout(binding = 4) writeonly buffer Dst { float d[]; };

/* How a is stored: A_HALF 0 F32, 1 F16, 2 BF16 (a weight kept in its
 * checkpoint's dtype; each shader declares A_HALF before including this
 * file). Half values are read as 32-bit words, two at a time, so no 16-bit
 * storage feature is needed. Texel-read kernels take F32 only. */
#ifndef TEXEL_READS
layout(binding = 0) readonly buffer a_words { uint a_w[]; };
layout(binding = 0) readonly buffer a_words2 { uvec2 a_w2[]; };
#endif

float half_value(uint bits) /* bits in the low 16 */
{
    return A_HALF == 1 ? unpackHalf2x16(bits).x : uintBitsToFloat(bits << 16);
}

float a_ld(uint i) /* element i */
{
#ifndef TEXEL_READS
    if (A_HALF != 0) {
        const uint w = a_w[i >> 1];
        return half_value((i & 1u) != 0 ? w >> 16 : w & 0xffffu);
    }
#endif
    return LD(a, i);
}

vec4 a_ld4(uint i) /* elements 4i .. 4i+3 */
{
#ifndef TEXEL_READS
    if (A_HALF != 0) {
        const uvec2 w = a_w2[i];
        return vec4(half_value(w.x & 0xffffu), half_value(w.x >> 16), half_value(w.y & 0xffffu),
                    half_value(w.y >> 16));
    }
#endif
    return LD4(a, i);
}

float b_ld(uint i) { return LD(b, i); }
vec4 b_ld4(uint i) { return LD4(b, i); }

layout(push_constant) uniform PC {
    uint M, N, K;
    uint a_off, b_off, d_off, bias_off;
    uint a_sk, a_sm, a_s2, a_s3;
    uint b_sk, b_sn, b_s2, b_s3;
    uint d_sn, d_s2, d_s3;     /* d_sm == 1 */
    uint a_r2, a_r3, b_r2, b_r3; /* batch i of a is i / a_r (broadcast) */
    uint ne2;                  /* z = i2 + ne2 * i3 */
    uint bias_mode;
} p;

#define BIAS_NONE 0
#define BIAS_M 1
#define BIAS_N 2

uint batch_a(uint z) { return p.a_off + ((z % p.ne2) / p.a_r2) * p.a_s2 + ((z / p.ne2) / p.a_r3) * p.a_s3; }
uint batch_b(uint z) { return p.b_off + ((z % p.ne2) / p.b_r2) * p.b_s2 + ((z / p.ne2) / p.b_r3) * p.b_s3; }
uint batch_d(uint z) { return p.d_off + (z % p.ne2) * p.d_s2 + (z / p.ne2) * p.d_s3; }

void store(uint db, uint m, uint n, float v)
{
    if (p.bias_mode == BIAS_M)
        v += LD(bias, p.bias_off + m);
    else if (p.bias_mode == BIAS_N)
        v += LD(bias, p.bias_off + n);
    d[db + n * p.d_sn + m] = v;
}
