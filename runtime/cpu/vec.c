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

MM_VEC_CLONES void mm_vec_axpy(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
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
