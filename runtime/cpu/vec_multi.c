/* Inner loops that stream a matrix once for a few vectors at a time (see
 * vec.h): a decoder step's products (weight rows . the batch's rows) and its
 * attention (keys . queries, probabilities . values) when beams share a
 * source. With one vector at a time each weight row or key would be read,
 * and an F16 row converted, once per vector.
 *
 * AVX-512 where the CPU has it, with every vector's accumulators in
 * registers (the kernels are specialised per vector count, which is what
 * lets GCC keep them there); elsewhere the one-vector loops of vec.c. */
#include "vec.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MM_AVX512 __attribute__((target("avx512f")))
#define MM_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

static bool has_avx512f(void)
{
    static int cached = -1; /* a benign race: every thread computes the same answer */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f");
    }
    return cached;
}

/* 16 values of a row at element k as F32. */
MM_AVX512_INLINE __m512 load16(const void *row, mm_vec_dtype dt, int64_t k)
{
    switch (dt) {
    case MM_VEC_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)));
    case MM_VEC_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k))), 16));
    default:
        return _mm512_loadu_ps((const float *)row + k);
    }
}

static inline float scalar_at(const void *row, mm_vec_dtype dt, int64_t k)
{
    if (dt == MM_VEC_F32)
        return ((const float *)row)[k];
    float f;
    mm_vec_widen(&f, (const uint16_t *)row + k, 1, dt == MM_VEC_BF16);
    return f;
}

/* How far ahead the loops prefetch the streamed matrix: with N vectors'
 * FMAs between its loads too few misses are in flight to stream it
 * otherwise (a 51865-row F16 head ran at a quarter of the bandwidth). */
#define PREFETCH_BYTES 4096

/* A prefetch `offset` bytes past `base`, which may lie past the end of the
 * matrix (a hint never faults; integer arithmetic, so no pointer past an
 * array's end is formed). */
MM_AVX512_INLINE void prefetch_at(const void *base, size_t offset)
{
    _mm_prefetch((const char *)(uintptr_t)((uintptr_t)base + offset), _MM_HINT_T0);
}

/* Rows [m, m + R) of W dotted with the N vectors: R*N accumulators, each
 * 16 values of a weight row feeding N FMAs and each 16 values of a vector
 * R (the asm keeps the vector in a register: folded into the FMAs as
 * memory operands it would be loaded R times, and loads are the limit).
 * Prefetches the rows `ahead` rows on (>= R, so every row is). */
MM_AVX512_INLINE void dot_block(float *C, int64_t ldc, const char *w, size_t row_bytes, mm_vec_dtype dt,
                                const float *B, int64_t ldb, const int N, const int R, int64_t m, int64_t K,
                                size_t ahead)
{
    const int64_t K16 = K & ~(int64_t)15;
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int n = 0; n < N; n++)
            acc[r][n] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K16; k += 16) {
        __m512 x[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            prefetch_at(w, (ahead + (size_t)r) * row_bytes + (size_t)k * (dt == MM_VEC_F32 ? 4 : 2));
            x[r] = load16(w + (size_t)r * row_bytes, dt, k);
        }
#pragma GCC unroll 8
        for (int n = 0; n < N; n++) {
            __m512 y = _mm512_loadu_ps(B + n * ldb + k);
            __asm__("" : "+v"(y));
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][n] = _mm512_fmadd_ps(x[r], y, acc[r][n]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int n = 0; n < N; n++) {
            float sum = _mm512_reduce_add_ps(acc[r][n]);
            for (int64_t k = K16; k < K; k++)
                sum += scalar_at(w + (size_t)r * row_bytes, dt, k) * B[n * ldb + k];
            C[n * ldc + m + r] = sum;
        }
}

/* Rows [m0, m1) of W, in blocks of as many rows as the registers hold. */
MM_AVX512_INLINE void dot_multi_n(float *C, int64_t ldc, const void *W, mm_vec_dtype dt, int64_t ldw, const float *B,
                                  int64_t ldb, const int N, int64_t m0, int64_t m1, int64_t K)
{
    const size_t row_bytes = (size_t)ldw * (dt == MM_VEC_F32 ? 4 : 2);
    const int R = N <= 6 ? 4 : 3; /* R*N accumulators + R rows + a vector <= 32 registers */
    size_t ahead = row_bytes ? (PREFETCH_BYTES + row_bytes - 1) / row_bytes : 0;
    ahead = ahead < (size_t)R ? (size_t)R : ahead;
    int64_t m = m0;
    for (; m + R <= m1; m += R)
        dot_block(C, ldc, (const char *)W + (size_t)m * row_bytes, row_bytes, dt, B, ldb, N, R, m, K, ahead);
    for (; m < m1; m++)
        dot_block(C, ldc, (const char *)W + (size_t)m * row_bytes, row_bytes, dt, B, ldb, N, 1, m, K, ahead);
}

/* Specialised per vector count and weight type (constants inside, so the
 * loops carry no branch and the accumulators stay in registers). */
#define DOT_MULTI(N, DT, name)                                                                                       \
    MM_AVX512 static void dot_multi_##name##N(float *C, int64_t ldc, const void *W, int64_t ldw, const float *B,     \
                                              int64_t ldb, int64_t m0, int64_t m1, int64_t K)                        \
    {                                                                                                                \
        dot_multi_n(C, ldc, W, DT, ldw, B, ldb, N, m0, m1, K);                                                       \
    }
#define DOT_MULTI_ALL(N) DOT_MULTI(N, MM_VEC_F32, f32_) DOT_MULTI(N, MM_VEC_F16, f16_) DOT_MULTI(N, MM_VEC_BF16, bf16_)
DOT_MULTI_ALL(1)
DOT_MULTI_ALL(2)
DOT_MULTI_ALL(3)
DOT_MULTI_ALL(4)
DOT_MULTI_ALL(5)
DOT_MULTI_ALL(6)
DOT_MULTI_ALL(7)
DOT_MULTI_ALL(8)

typedef void (*dot_multi_fn)(float *, int64_t, const void *, int64_t, const float *, int64_t, int64_t, int64_t,
                             int64_t);
#define DOT_MULTI_ROW(name)                                                                                          \
    {NULL, dot_multi_##name##1, dot_multi_##name##2, dot_multi_##name##3, dot_multi_##name##4,                       \
     dot_multi_##name##5, dot_multi_##name##6, dot_multi_##name##7, dot_multi_##name##8}
static const dot_multi_fn dot_multi[3][MM_VEC_MULTI_MAX + 1] = {
    [MM_VEC_F32] = DOT_MULTI_ROW(f32_),
    [MM_VEC_F16] = DOT_MULTI_ROW(f16_),
    [MM_VEC_BF16] = DOT_MULTI_ROW(bf16_),
};

/* The N outputs' CW*16 columns at c, summed over rows [0, rows) of V: each
 * V row's columns loaded once for the N outputs (all in registers). */
MM_AVX512_INLINE void axpy_cols(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V, int64_t ldv,
                                int64_t rows, const int N, const int CW, int64_t c)
{
    __m512 acc[8][4];
#pragma GCC unroll 8
    for (int n = 0; n < N; n++)
#pragma GCC unroll 4
        for (int w = 0; w < CW; w++)
            acc[n][w] = _mm512_loadu_ps(Y + n * ldy + c + 16 * w);
    const int64_t ahead = PREFETCH_BYTES / (64 * CW); /* rows: each pass reads CW lines of a row */
    for (int64_t r = 0; r < rows; r++) {
        __m512 v[4];
#pragma GCC unroll 4
        for (int w = 0; w < CW; w++) {
            prefetch_at(V, (size_t)((r + ahead) * ldv + c + 16 * w) * sizeof(float));
            v[w] = _mm512_loadu_ps(V + r * ldv + c + 16 * w);
        }
#pragma GCC unroll 8
        for (int n = 0; n < N; n++) {
            __m512 p = _mm512_set1_ps(P[n * ldp + r]);
#pragma GCC unroll 4
            for (int w = 0; w < CW; w++)
                acc[n][w] = _mm512_fmadd_ps(p, v[w], acc[n][w]);
        }
    }
#pragma GCC unroll 8
    for (int n = 0; n < N; n++)
#pragma GCC unroll 4
        for (int w = 0; w < CW; w++)
            _mm512_storeu_ps(Y + n * ldy + c + 16 * w, acc[n][w]);
}

/* Columns [0, n16) in blocks of 64 (48 for N > 6: N*CW accumulators, CW
 * rows and a broadcast fit the 32 registers), then of 16. */
MM_AVX512_INLINE void axpy_multi_n(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V, int64_t ldv,
                                   int64_t rows, const int N, int64_t n16)
{
    const int CW = N <= 6 ? 4 : 3;
    int64_t c = 0;
    for (; c + 16 * CW <= n16; c += 16 * CW)
        axpy_cols(Y, ldy, P, ldp, V, ldv, rows, N, CW, c);
    for (; c < n16; c += 16)
        axpy_cols(Y, ldy, P, ldp, V, ldv, rows, N, 1, c);
}

#define AXPY_MULTI(N)                                                                                                \
    MM_AVX512 static void axpy_multi_##N(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V,         \
                                         int64_t ldv, int64_t rows, int64_t n16)                                    \
    {                                                                                                                \
        axpy_multi_n(Y, ldy, P, ldp, V, ldv, rows, N, n16);                                                          \
    }
AXPY_MULTI(1)
AXPY_MULTI(2)
AXPY_MULTI(3)
AXPY_MULTI(4)
AXPY_MULTI(5)
AXPY_MULTI(6)
AXPY_MULTI(7)
AXPY_MULTI(8)

typedef void (*axpy_multi_fn)(float *, int64_t, const float *, int64_t, const float *, int64_t, int64_t, int64_t);
static const axpy_multi_fn axpy_multi[MM_VEC_MULTI_MAX + 1] = {
    NULL, axpy_multi_1, axpy_multi_2, axpy_multi_3, axpy_multi_4, axpy_multi_5, axpy_multi_6, axpy_multi_7, axpy_multi_8,
};
#endif

void mm_vec_dot_multi(float *C, int64_t ldc, const void *W, mm_vec_dtype dt, int64_t ldw, const float *B, int64_t ldb,
                      int64_t N, int64_t m0, int64_t m1, int64_t K)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (N >= 1 && N <= MM_VEC_MULTI_MAX && has_avx512f()) {
        dot_multi[dt][N](C, ldc, W, ldw, B, ldb, m0, m1, K);
        return;
    }
#endif
    mm_vec_dot_multi_portable(C, ldc, W, dt, ldw, B, ldb, N, m0, m1, K);
}

void mm_vec_dot_multi_portable(float *C, int64_t ldc, const void *W, mm_vec_dtype dt, int64_t ldw, const float *B,
                               int64_t ldb, int64_t N, int64_t m0, int64_t m1, int64_t K)
{
    if (dt == MM_VEC_F32) { /* a vector against all the rows: one call, rows inlined */
        for (int64_t n = 0; n < N; n++)
            mm_vec_dot_rows(C + n * ldc + m0, (const float *)W + m0 * ldw, ldw, B + n * ldb, m1 - m0, K);
        return;
    }
    for (int64_t m = m0; m < m1; m++)
        for (int64_t n = 0; n < N; n++)
            C[n * ldc + m] = mm_vec_dot_half((const uint16_t *)W + m * ldw, dt == MM_VEC_BF16, B + n * ldb, K);
}

void mm_vec_axpy_multi(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V, int64_t ldv, int64_t N,
                       int64_t rows, int64_t n)
{
    int64_t c = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (N >= 1 && N <= MM_VEC_MULTI_MAX && has_avx512f()) {
        c = n & ~(int64_t)15;
        axpy_multi[N](Y, ldy, P, ldp, V, ldv, rows, c);
    }
#endif
    if (c < n)
        mm_vec_axpy_multi_portable(Y + c, ldy, P, ldp, V + c, ldv, N, rows, n - c);
}

void mm_vec_axpy_multi_portable(float *Y, int64_t ldy, const float *P, int64_t ldp, const float *V, int64_t ldv,
                                int64_t N, int64_t rows, int64_t n)
{
    for (int64_t i = 0; i < N; i++)
        mm_vec_axpy_rows(Y + i * ldy, P + i * ldp, V, ldv, rows, n);
}
