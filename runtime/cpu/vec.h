/* Inner loops of the optimized CPU kernels over contiguous float arrays.
 *
 * The build targets baseline x86-64 (SSE2), so the loops are compiled once
 * per ISA level with target_clones and the loader picks the best (AVX2+FMA,
 * AVX-512) at run time. They are written branch-free so GCC vectorizes them;
 * exp and erf use polynomial approximations (about 1 ulp and 2e-7 absolute)
 * instead of libm calls, which do not vectorize. */
#ifndef MM_CPU_VEC_H
#define MM_CPU_VEC_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Not under ASan/TSan: the ifunc resolvers that pick a clone run before the
 * sanitizer runtime is initialised (TSan crashes at start-up). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define MM_VEC_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define MM_VEC_CLONES
#endif

/* e^x (Cephes expf): exact 0 below -87.3, +inf above 88.7. */
static inline float mm_expf(float x)
{
    const float lo = -87.3365478515625f, hi = 88.7228391116729996f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < lo ? 0.0f : p * scale;
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
static inline float mm_erff(float x)
{
    float ax = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float y = 1.0f - p * t * mm_expf(-ax * ax);
    return x < 0 ? -y : y;
}

void mm_vec_add(float *d, const float *x, const float *y, int64_t n);
void mm_vec_mul(float *d, const float *x, const float *y, int64_t n);
void mm_vec_add1(float *d, const float *x, float y, int64_t n); /* d = x + y */
void mm_vec_scale(float *d, const float *x, float s, int64_t n);  /* d = x * s */
void mm_vec_gelu(float *d, const float *x, int64_t n, int kind);
float mm_vec_max(const float *x, int64_t n);
double mm_vec_sum(const float *x, int64_t n);
/* d = exp(x - mx); returns the sum (in double). */
double mm_vec_exp_sum(float *d, const float *x, float mx, int64_t n);
float mm_vec_dot(const float *x, const float *y, int64_t n);
/* d[r] = mm_vec_dot(a + r*lda, x, n) for r < rows (one vector against a
 * matrix's rows in one call: mm_vec_dot_multi_portable's F32 loop). */
void mm_vec_dot_rows(float *d, const float *a, int64_t lda, const float *x, int64_t rows, int64_t n);
/* y += w[r] * (a + r*lda) for each r < rows whose w[r] is not 0, in order
 * (the attention-weighted sum of a head's values). */
void mm_vec_axpy_rows(float *y, const float *w, const float *a, int64_t lda, int64_t rows, int64_t n);
/* F16 (bf16 false) or BF16 weights read in place: widened into d, or dotted
 * with y; F16C where the CPU has it, else the _portable loops (both exact
 * conversions, tested against mm_f16_to_f32 on every value). */
void mm_vec_widen(float *d, const uint16_t *x, int64_t n, bool bf16);
float mm_vec_dot_half(const uint16_t *x, bool bf16, const float *y, int64_t n);
void mm_vec_widen_portable(float *d, const uint16_t *x, int64_t n, bool bf16);
float mm_vec_dot_half_portable(const uint16_t *x, bool bf16, const float *y, int64_t n);

/* ---- a matrix streamed once for up to MM_VEC_MULTI_MAX vectors (vec_multi.c) */

typedef enum mm_vec_dtype { MM_VEC_F32, MM_VEC_F16, MM_VEC_BF16 } mm_vec_dtype;
#define MM_VEC_MULTI_MAX 8

/* C[n*ldc + m] = W_m . B_n for rows m in [m0, m1) of W (K values of type
 * dt, rows ldw elements apart) and n < N (rows of B, ldb floats apart). */
void mm_vec_dot_multi(float *C, int64_t ldc, const void *W, mm_vec_dtype dt, int64_t ldw, const float *B, int64_t ldb,
                      int64_t N, int64_t m0, int64_t m1, int64_t K);
/* Y_i += sum_r P[i*ldp + r] * V_r over rows r < rows of V (n floats each,
 * ldv apart), for i < N (Y rows ldy apart). */
void mm_vec_axpy_multi(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V, int64_t ldv, int64_t N,
                       int64_t rows, int64_t n);
/* The loops the two take on CPUs without AVX-512 (one vector at a time),
 * callable anywhere so the tests compare both paths. */
void mm_vec_dot_multi_portable(float *C, int64_t ldc, const void *W, mm_vec_dtype dt, int64_t ldw, const float *B,
                               int64_t ldb, int64_t N, int64_t m0, int64_t m1, int64_t K);
void mm_vec_axpy_multi_portable(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V, int64_t ldv,
                                int64_t N, int64_t rows, int64_t n);

/* Mean and 1/sqrt(var + eps) over n values (two passes, double sums). */
void mm_vec_moments(const float *x, int64_t n, float eps, float *mean, float *inv_std);
/* d = (x - mean) * inv * (w? w : 1) + (b? b : 0) */
void mm_vec_norm(float *d, const float *x, int64_t n, float mean, float inv, const float *w, const float *b);

#endif
