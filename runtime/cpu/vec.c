/* Vectorizable inner loops (see vec.h). */
/* Allows if-converting the selects in mm_expf (clamps, underflow to 0) so
 * the loops vectorize on AVX2 too; nothing here relies on FP traps. */
#pragma GCC optimize("no-trapping-math")

#include "vec.h"

#include <math.h>

#include "mm/tensor.h"

MM_VEC_CLONES void mm_vec_add(float *d, const float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i] + y[i];
}

MM_VEC_CLONES void mm_vec_mul(float *d, const float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i] * y[i];
}

MM_VEC_CLONES void mm_vec_add1(float *d, const float *x, float y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i] + y;
}

MM_VEC_CLONES void mm_vec_scale(float *d, const float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = x[i] * s;
}

MM_VEC_CLONES void mm_vec_gelu(float *d, const float *x, int64_t n, int kind)
{
    switch (kind) {
    case MM_GELU_TANH: /* 0.5x(1 + tanh u) == x * sigmoid(2u) */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float u2 = 1.5957691216057308f * (v + 0.044715f * v * v * v); /* 2 sqrt(2/pi) */
            d[i] = v / (1.0f + mm_expf(-u2));
        }
        break;
    case MM_GELU_QUICK:
        for (int64_t i = 0; i < n; i++)
            d[i] = x[i] / (1.0f + mm_expf(-1.702f * x[i]));
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            d[i] = 0.5f * x[i] * (1.0f + mm_erff(x[i] * 0.70710678118654752f));
        break;
    }
}

/* Reductions keep MM_LANES independent accumulators: without -ffast-math
 * GCC only vectorizes a reduction written that way. */
#define MM_LANES 16

MM_VEC_CLONES float mm_vec_max(const float *x, int64_t n)
{
    float acc[MM_LANES];
    for (int j = 0; j < MM_LANES; j++)
        acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int j = 0; j < MM_LANES; j++)
            acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    float m = -INFINITY;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int j = 0; j < MM_LANES; j++)
        m = acc[j] > m ? acc[j] : m;
    return m;
}

MM_VEC_CLONES double mm_vec_exp_sum(float *d, const float *x, float mx, int64_t n)
{
    /* float partial sums in blocks keep the loop vectorized; blocks add in double */
    for (int64_t i = 0; i < n; i++)
        d[i] = mm_expf(x[i] - mx);
    return mm_vec_sum(d, n);
}

MM_VEC_CLONES double mm_vec_sum(const float *x, int64_t n)
{
    double acc[MM_LANES] = {0};
    int64_t i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int j = 0; j < MM_LANES; j++)
            acc[j] += x[i + j];
    double s = 0;
    for (; i < n; i++)
        s += x[i];
    for (int j = 0; j < MM_LANES; j++)
        s += acc[j];
    return s;
}

/* The dot product of mm_vec_dot, inlined into the row loops below so that
 * each clone vectorizes it and rows cost no call. */
static inline float dot_lanes(const float *x, const float *y, int64_t n)
{
    float acc[MM_LANES] = {0};
    int64_t i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int j = 0; j < MM_LANES; j++)
            acc[j] += x[i + j] * y[i + j];
    float s = 0;
    for (; i < n; i++)
        s += x[i] * y[i];
    for (int j = 0; j < MM_LANES; j++)
        s += acc[j];
    return s;
}

MM_VEC_CLONES void mm_vec_dot_rows(float *d, const float *a, int64_t lda, const float *x, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        d[r] = dot_lanes(a + r * lda, x, n);
}

MM_VEC_CLONES void mm_vec_axpy_rows(float *y, const float *w, const float *a, int64_t lda, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        if (w[r] == 0.0f)
            continue;
        const float *x = a + r * lda;
        float c = w[r];
        for (int64_t i = 0; i < n; i++)
            y[i] += c * x[i];
    }
}

MM_VEC_CLONES float mm_vec_dot(const float *x, const float *y, int64_t n)
{
    float acc[MM_LANES] = {0};
    int64_t i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int j = 0; j < MM_LANES; j++)
            acc[j] += x[i + j] * y[i + j];
    float s = 0;
    for (; i < n; i++)
        s += x[i] * y[i];
    for (int j = 0; j < MM_LANES; j++)
        s += acc[j];
    return s;
}

/* One F16 or BF16 value as F32, exactly, in integer and float ops that
 * vectorize (GCC 12 does not vectorize _Float16 conversions without
 * AVX512-FP16). F16: the exponent and mantissa shifted into place and
 * rebiased by 2^112 (exact, subnormals included), Inf/NaN given the full
 * exponent; checked against every one of the 65536 values. */
static inline float half_to_f32(uint16_t h, bool bf16)
{
    uint32_t bits;
    float f;
    if (bf16) {
        bits = (uint32_t)h << 16;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    uint32_t em = h & 0x7fffu;
    bits = em << 13;
    memcpy(&f, &bits, sizeof f);
    f *= 0x1p112f;
    memcpy(&bits, &f, sizeof bits);
    bits |= (em >= 0x7c00u ? 0x7f800000u : 0u) | ((uint32_t)(h & 0x8000u) << 16);
    memcpy(&f, &bits, sizeof f);
    return f;
}

MM_VEC_CLONES void mm_vec_widen_portable(float *d, const uint16_t *x, int64_t n, bool bf16)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = half_to_f32(x[i], bf16);
}

MM_VEC_CLONES float mm_vec_dot_half_portable(const uint16_t *x, bool bf16, const float *y, int64_t n)
{
    float acc[MM_LANES] = {0};
    int64_t i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int j = 0; j < MM_LANES; j++)
            acc[j] += half_to_f32(x[i + j], bf16) * y[i + j];
    float s = 0;
    for (; i < n; i++)
        s += half_to_f32(x[i], bf16) * y[i];
    for (int j = 0; j < MM_LANES; j++)
        s += acc[j];
    return s;
}

/* F16 on x86 with F16C: one vcvtph2ps per 8 values, where the portable
 * conversion above costs about nine integer and float ops (and ran a
 * decoding step's F16 head 1.8x slower than its F32 twin). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MM_F16C __attribute__((target("avx2,fma,f16c")))

MM_F16C static void widen_f16c(float *d, const uint16_t *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        d[i] = half_to_f32(x[i], false);
}

MM_F16C static float dot_f16c(const uint16_t *x, const float *y, int64_t n)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; j++)
            acc[j] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * j))),
                                     _mm256_loadu_ps(y + i + 8 * j), acc[j]);
    __m256 v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++)
        s += half_to_f32(x[i], false) * y[i];
    return s;
}

static bool has_f16c(void)
{
    static int cached = -1; /* a benign race: every thread computes the same answer */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached;
}
#else
static bool has_f16c(void) { return false; }
#define widen_f16c(d, x, n) mm_vec_widen_portable(d, x, n, false)
#define dot_f16c(x, y, n) mm_vec_dot_half_portable(x, false, y, n)
#endif

void mm_vec_widen(float *d, const uint16_t *x, int64_t n, bool bf16)
{
    if (!bf16 && has_f16c())
        widen_f16c(d, x, n);
    else
        mm_vec_widen_portable(d, x, n, bf16);
}

float mm_vec_dot_half(const uint16_t *x, bool bf16, const float *y, int64_t n)
{
    return !bf16 && has_f16c() ? dot_f16c(x, y, n) : mm_vec_dot_half_portable(x, bf16, y, n);
}

MM_VEC_CLONES void mm_vec_moments(const float *x, int64_t n, float eps, float *mean, float *inv_std)
{
    double m = mm_vec_sum(x, n) / (double)n;
    double acc[MM_LANES] = {0}, v = 0;
    int64_t i = 0;
    for (; i + MM_LANES <= n; i += MM_LANES)
        for (int j = 0; j < MM_LANES; j++)
            acc[j] += ((double)x[i + j] - m) * ((double)x[i + j] - m);
    for (; i < n; i++)
        v += ((double)x[i] - m) * ((double)x[i] - m);
    for (int j = 0; j < MM_LANES; j++)
        v += acc[j];
    *mean = (float)m;
    *inv_std = (float)(1.0 / sqrt(v / (double)n + eps));
}

MM_VEC_CLONES void mm_vec_norm(float *d, const float *x, int64_t n, float mean, float inv, const float *w,
                               const float *b)
{
    if (w && b)
        for (int64_t i = 0; i < n; i++)
            d[i] = (x[i] - mean) * inv * w[i] + b[i];
    else if (w)
        for (int64_t i = 0; i < n; i++)
            d[i] = (x[i] - mean) * inv * w[i];
    else if (b)
        for (int64_t i = 0; i < n; i++)
            d[i] = (x[i] - mean) * inv + b[i];
    else
        for (int64_t i = 0; i < n; i++)
            d[i] = (x[i] - mean) * inv;
}
