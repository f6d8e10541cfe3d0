/* Optimized CPU kernels for the memory-bound ops: copies, elementwise,
 * normalisation, softmax, lookups and selections. Work is split over rows
 * (or flat element ranges when everything is contiguous) on the thread
 * pool; inner loops are the vectorized ones of vec.c. The BLAS-backed ops
 * live in ops_blas.c. Any layout a fast path does not cover takes the
 * generic strided loop, so every kernel accepts every input the reference
 * does. */
#include "cpu_backend.h"
#include "vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F(ptr) (*(const float *)(ptr))

static int64_t n_rows(const mm_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

static const char *row_at(const void *base, const mm_tensor *t, int64_t r)
{
    int64_t i1, i2, i3;
    mm_cpu_row_index(t, r, &i1, &i2, &i3);
    return mm_cpu_at(base, t, 0, i1, i2, i3);
}

/* ---- copies (cont, concat) ---------------------------------------------------- */

typedef struct copy_job {
    const mm_tensor *src; /* shape and strides of what is copied */
    const void *base;
    char *dst;            /* contiguous destination rows           */
    size_t dst_row;       /* bytes between destination rows        */
} copy_job;

static void copy_row(char *to, const char *from, int64_t n, size_t nb0, size_t es)
{
    if (nb0 == es)
        memcpy(to, from, (size_t)n * es);
    else
        for (int64_t i = 0; i < n; i++)
            memcpy(to + (size_t)i * es, from + i * (int64_t)nb0, es);
}

/* Copies rows [r0, r1) of job->src (in src's own row order) to dst. */
static void copy_rows(void *p, int64_t r0, int64_t r1)
{
    const copy_job *j = p;
    const mm_tensor *s = j->src;
    for (int64_t r = r0; r < r1; r++)
        copy_row(j->dst + (size_t)r * j->dst_row, row_at(j->base, s, r), s->ne[0], s->nb[0], mm_dtype_size(s->type));
}

typedef struct flat_copy {
    const char *src;
    char *dst;
} flat_copy;

static void copy_flat(void *p, int64_t b0, int64_t b1)
{
    const flat_copy *j = p;
    memcpy(j->dst + b0, j->src + b0, (size_t)(b1 - b0));
}

static mm_status opt_cont(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    if (mm_tensor_is_contiguous(s)) {
        flat_copy j = {a->src[0], a->dst};
        mm_cpu_parallel(a->ctx, (int64_t)mm_tensor_nbytes(t), 0.25, copy_flat, &j);
        return MM_OK;
    }
    copy_job j = {s, a->src[0], a->dst, (size_t)t->ne[0] * mm_dtype_size(t->type)};
    mm_cpu_parallel(a->ctx, n_rows(s), (double)s->ne[0] * (s->nb[0] == mm_dtype_size(s->type) ? 1 : 4), copy_rows,
                    &j);
    return MM_OK;
}

/* A store's rows are each contiguous in the buffer (a KV-cache slot, a
 * layer's keys): row by row, in parallel. */
static void store_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    const mm_tensor *t = a->t, *s = t->src[0];
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        mm_cpu_row_index(t, r, &i1, &i2, &i3);
        copy_row((char *)mm_cpu_at(a->dst, t, 0, i1, i2, i3), mm_cpu_at(a->src[0], s, 0, i1, i2, i3), s->ne[0],
                 s->nb[0], mm_dtype_size(s->type));
    }
}

static mm_status opt_store(const mm_cpu_args *a)
{
    if (!mm_tensor_rows_contiguous(a->t))
        return mm_cpu_ref_kernels[MM_OP_STORE](a);
    mm_cpu_parallel(a->ctx, n_rows(a->t), (double)a->t->ne[0], store_rows, (void *)a);
    return MM_OK;
}

/* set_rows: a batch's rows in order (a row listed twice gets the later
 * one), batches in parallel. */
static void set_rows_batches(void *p, int64_t b0, int64_t b1)
{
    const mm_cpu_args *a = p;
    const mm_tensor *t = a->t, *s = t->src[0], *ids = t->src[1];
    for (int64_t b = b0; b < b1; b++) {
        int64_t i2 = b % s->ne[2], i3 = b / s->ne[2];
        const int32_t *id = (const int32_t *)a->src[1] + (ids->ne[1] > 1 ? i2 * ids->ne[0] : 0) +
                            (ids->ne[2] > 1 ? i3 * ids->ne[0] * ids->ne[1] : 0);
        for (int64_t n = 0; n < s->ne[1]; n++)
            copy_row((char *)mm_cpu_at(a->dst, t, 0, id[n], i2, i3), mm_cpu_at(a->src[0], s, 0, n, i2, i3), s->ne[0],
                     s->nb[0], sizeof(float));
    }
}

static mm_status opt_set_rows(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0], *ids = t->src[1];
    if (!mm_tensor_is_contiguous(ids)) /* mm_set_rows makes them so */
        return mm_cpu_ref_kernels[MM_OP_SET_ROWS](a);
    const int32_t *id = a->src[1];
    for (int64_t i = 0, n = mm_tensor_nelements(ids); i < n; i++)
        if (id[i] < 0 || id[i] >= t->ne[1])
            return mm_cpu_ref_kernels[MM_OP_SET_ROWS](a); /* says which, before writing anything */
    mm_cpu_parallel(a->ctx, s->ne[2] * s->ne[3], (double)(s->ne[0] * s->ne[1]), set_rows_batches, (void *)a);
    return MM_OK;
}

static void concat_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    int dim = t->op_i[0];
    size_t es = mm_dtype_size(t->type);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i[4] = {0};
        mm_cpu_row_index(t, r, &i[1], &i[2], &i[3]);
        char *d = (char *)a->dst + (size_t)r * (size_t)t->ne[0] * es;
        if (dim == 0) {
            copy_row(d, mm_cpu_at(a->src[0], sa, 0, i[1], i[2], i[3]), sa->ne[0], sa->nb[0], es);
            copy_row(d + (size_t)sa->ne[0] * es, mm_cpu_at(a->src[1], sb, 0, i[1], i[2], i[3]), sb->ne[0], sb->nb[0],
                     es);
        } else if (i[dim] < sa->ne[dim]) {
            copy_row(d, mm_cpu_at(a->src[0], sa, 0, i[1], i[2], i[3]), sa->ne[0], sa->nb[0], es);
        } else {
            i[dim] -= sa->ne[dim];
            copy_row(d, mm_cpu_at(a->src[1], sb, 0, i[1], i[2], i[3]), sb->ne[0], sb->nb[0], es);
        }
    }
}

static mm_status opt_concat(const mm_cpu_args *a)
{
    mm_cpu_parallel(a->ctx, n_rows(a->t), (double)a->t->ne[0], concat_rows, (void *)a);
    return MM_OK;
}

/* ---- elementwise ------------------------------------------------------------------ */

/* ADD, MUL, SCALE, GELU over rows; b (binary ops) broadcasts where ne == 1. */
static void eltwise_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    int64_t n = t->ne[0];
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        mm_cpu_row_index(t, r, &i1, &i2, &i3);
        float *d = (float *)a->dst + r * n;
        const char *x = mm_cpu_at(a->src[0], sa, 0, i1, i2, i3);
        const float *xr = (const float *)x;
        if (sa->nb[0] != 4 && n > 1) {
            for (int64_t i = 0; i < n; i++)
                d[i] = F(x + i * (int64_t)sa->nb[0]);
            xr = d; /* gathered in place; the vector op then reads d */
        }
        if (t->op == MM_OP_SCALE) {
            mm_vec_scale(d, xr, t->op_f[0], n);
            continue;
        }
        if (t->op == MM_OP_GELU) {
            mm_vec_gelu(d, xr, n, t->op_i[0]);
            continue;
        }
        const char *y = mm_cpu_at(a->src[1], sb, 0, sb->ne[1] == 1 ? 0 : i1, sb->ne[2] == 1 ? 0 : i2,
                                  sb->ne[3] == 1 ? 0 : i3);
        bool add = t->op == MM_OP_ADD;
        if (sb->ne[0] == 1 && n > 1) {
            if (add)
                mm_vec_add1(d, xr, F(y), n);
            else
                mm_vec_scale(d, xr, F(y), n);
        } else if (sb->nb[0] == 4 || n == 1) {
            (add ? mm_vec_add : mm_vec_mul)(d, xr, (const float *)y, n);
        } else {
            for (int64_t i = 0; i < n; i++)
                d[i] = add ? xr[i] + F(y + i * (int64_t)sb->nb[0]) : xr[i] * F(y + i * (int64_t)sb->nb[0]);
        }
    }
}

typedef struct flat_job {
    const mm_cpu_args *a;
} flat_job;

/* Contiguous operands of one shape: one flat range of elements. */
static void eltwise_flat(void *p, int64_t i0, int64_t i1)
{
    const mm_cpu_args *a = ((const flat_job *)p)->a;
    const mm_tensor *t = a->t;
    float *d = (float *)a->dst + i0;
    const float *x = (const float *)a->src[0] + i0;
    int64_t n = i1 - i0;
    switch (t->op) {
    case MM_OP_SCALE:
        mm_vec_scale(d, x, t->op_f[0], n);
        break;
    case MM_OP_GELU:
        mm_vec_gelu(d, x, n, t->op_i[0]);
        break;
    case MM_OP_ADD:
        mm_vec_add(d, x, (const float *)a->src[1] + i0, n);
        break;
    default:
        mm_vec_mul(d, x, (const float *)a->src[1] + i0, n);
        break;
    }
}

static mm_status opt_eltwise(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    double cost = t->op == MM_OP_GELU ? 16 : 1;
    bool flat = mm_tensor_is_contiguous(sa);
    if (sb)
        for (int i = 0; i < MM_MAX_DIMS; i++)
            flat = flat && sb->ne[i] == sa->ne[i];
    if (flat && sb)
        flat = mm_tensor_is_contiguous(sb);
    if (flat) {
        flat_job j = {a};
        mm_cpu_parallel(a->ctx, mm_tensor_nelements(t), cost, eltwise_flat, &j);
    } else {
        mm_cpu_parallel(a->ctx, n_rows(t), cost * (double)t->ne[0], eltwise_rows, (void *)a);
    }
    return MM_OK;
}

/* ---- layer norm / softmax ------------------------------------------------------------ */

static void layer_norm_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    const mm_tensor *t = a->t;
    int64_t n = t->ne[0];
    for (int64_t r = r0; r < r1; r++) {
        const float *x = (const float *)a->src[0] + r * n;
        float mean, inv;
        mm_vec_moments(x, n, t->op_f[0], &mean, &inv);
        mm_vec_norm((float *)a->dst + r * n, x, n, mean, inv, a->src[1], a->src[2]);
    }
}

static mm_status opt_layer_norm(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t;
    for (int i = 0; i < 3; i++)
        if (t->src[i] && !mm_tensor_is_contiguous(t->src[i]))
            return mm_cpu_ref_kernels[MM_OP_LAYER_NORM](a); /* the builder promises contiguous inputs */
    mm_cpu_parallel(a->ctx, n_rows(t), 4.0 * (double)t->ne[0], layer_norm_rows, (void *)a);
    return MM_OK;
}

/* Softmax of one row in place: d holds the logits (scale and mask applied);
 * masked entries are -INFINITY; an all-masked row becomes zeros. */
static void softmax_inplace(float *d, int64_t n)
{
    float mx = mm_vec_max(d, n);
    if (mx == -INFINITY) {
        memset(d, 0, (size_t)n * sizeof *d);
        return;
    }
    double sum = mm_vec_exp_sum(d, d, mx, n);
    mm_vec_scale(d, d, (float)(1.0 / sum), n);
}

/* Scales x into d, adds the mask row (may be NULL) and applies the causal
 * rule for query i of nq (keys j > i + nk - nq masked). */
static void logits_row(float *d, const float *x, int64_t n, float scale, const float *mask, bool causal, int64_t i,
                       int64_t nq)
{
    if (x != d || scale != 1.0f)
        mm_vec_scale(d, x, scale, n);
    if (mask)
        mm_vec_add(d, d, mask, n);
    if (causal) {
        int64_t first = i + (n - nq) + 1;
        for (int64_t j = first < 0 ? 0 : first; j < n; j++)
            d[j] = -INFINITY;
    }
}

/* Row of a contiguous additive mask {nk, nq|1, h|1, b|1} for row (i1,i2,i3). */
static const float *mask_row(const void *base, const mm_tensor *m, int64_t i1, int64_t i2, int64_t i3)
{
    if (!m)
        return NULL;
    return (const float *)mm_cpu_at(base, m, 0, m->ne[1] == 1 ? 0 : i1, m->ne[2] == 1 ? 0 : i2,
                                     m->ne[3] == 1 ? 0 : i3);
}

static void softmax_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    const mm_tensor *t = a->t;
    int64_t n = t->ne[0];
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        mm_cpu_row_index(t, r, &i1, &i2, &i3);
        float *d = (float *)a->dst + r * n;
        logits_row(d, (const float *)a->src[0] + r * n, n, t->op_f[0], mask_row(a->src[1], t->src[1], i1, i2, i3),
                   t->op_i[0], i1, t->ne[1]);
        softmax_inplace(d, n);
    }
}

static mm_status opt_softmax(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t;
    if (!mm_tensor_is_contiguous(t->src[0]) || (t->src[1] && !mm_tensor_is_contiguous(t->src[1])))
        return mm_cpu_ref_kernels[MM_OP_SOFTMAX](a);
    mm_cpu_parallel(a->ctx, n_rows(t), 24.0 * (double)t->ne[0], softmax_rows, (void *)a);
    return MM_OK;
}

void mm_cpu_softmax_row(float *d, int64_t n, float scale, const float *mask, bool causal, int64_t i, int64_t nq)
{
    logits_row(d, d, n, scale, mask, causal, i, nq);
    softmax_inplace(d, n);
}

const float *mm_cpu_mask_row(const void *base, const mm_tensor *m, int64_t i1, int64_t i2, int64_t i3)
{
    return mask_row(base, m, i1, i2, i3);
}

/* ---- get_rows ---------------------------------------------------------------------- */

static mm_status opt_get_rows(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *tab = t->src[0], *ids = t->src[1];
    bool half = a->src_storage[0] != MM_DTYPE_F32; /* a contiguous F16/BF16 table, read in place */
    if (!mm_tensor_is_contiguous(ids) || !mm_tensor_is_contiguous(tab)) /* mm_get_rows makes both so */
        return half ? mm_error_set(MM_ERR_UNSUPPORTED, "get_rows: strided ids") : mm_cpu_ref_kernels[MM_OP_GET_ROWS](a);
    const int32_t *id = a->src[1];
    int64_t n = mm_tensor_nelements(ids), d = tab->ne[0];
    for (int64_t i = 0; i < n; i++)
        if (id[i] < 0 || id[i] >= tab->ne[1])
            return mm_error_set(MM_ERR_INVALID, "get_rows: id %d at [%lld,%lld] is outside the table's %lld rows",
                                id[i], (long long)(i / ids->ne[0]), (long long)(i % ids->ne[0]),
                                (long long)tab->ne[1]);
    for (int64_t i = 0; i < n; i++)
        if (half)
            mm_vec_widen((float *)a->dst + i * d, (const uint16_t *)a->src[0] + id[i] * d, d,
                         a->src_storage[0] == MM_DTYPE_BF16);
        else
            memcpy((float *)a->dst + i * d, (const float *)a->src[0] + id[i] * d, (size_t)d * sizeof(float));
    return MM_OK;
}

/* ---- argmax / top_k ----------------------------------------------------------------------- */

static void argmax_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    int64_t n = a->t->src[0]->ne[0];
    for (int64_t r = r0; r < r1; r++) {
        const float *x = (const float *)a->src[0] + r * n;
        float mx = mm_vec_max(x, n);
        int64_t best = 0;
        while (best < n && !(x[best] == mx))
            best++; /* first index holding the maximum */
        if (best == n) /* only NaN */
            best = 0;
        ((int32_t *)a->dst)[r] = (int32_t)best;
    }
}

static mm_status opt_argmax(const mm_cpu_args *a)
{
    if (!mm_tensor_is_contiguous(a->t->src[0]))
        return mm_cpu_ref_kernels[MM_OP_ARGMAX](a);
    mm_cpu_parallel(a->ctx, n_rows(a->t), 2.0 * (double)a->t->src[0]->ne[0], argmax_rows, (void *)a);
    return MM_OK;
}

/* True when index i ranks below index j in row x (smaller value, or equal
 * value and higher index): the order top_k sorts by, reversed. */
static inline bool ranks_below(const float *x, int32_t i, int32_t j)
{
    return x[i] < x[j] || (x[i] == x[j] && i > j);
}

/* Restores the heap (lowest-ranked entry at the root) below position p. */
static void heap_sift(int32_t *h, int64_t n, int64_t p, const float *x)
{
    for (;;) {
        int64_t c = 2 * p + 1;
        if (c >= n)
            return;
        if (c + 1 < n && ranks_below(x, h[c + 1], h[c]))
            c++;
        if (!ranks_below(x, h[c], h[p]))
            return;
        int32_t tmp = h[p];
        h[p] = h[c];
        h[c] = tmp;
        p = c;
    }
}

/* Per row: a k-entry heap of the best indices so far, kept in the output
 * row itself (O(n log k), no scratch), then heap-sorted best first. */
static void topk_rows(void *p, int64_t r0, int64_t r1)
{
    const mm_cpu_args *a = p;
    int64_t n = a->t->src[0]->ne[0], k = a->t->op_i[0];
    for (int64_t r = r0; r < r1; r++) {
        const float *x = (const float *)a->src[0] + r * n;
        int32_t *h = (int32_t *)a->dst + r * k;
        for (int64_t i = 0; i < k; i++)
            h[i] = (int32_t)i;
        for (int64_t i = k / 2 - 1; i >= 0; i--)
            heap_sift(h, k, i, x);
        for (int64_t i = k; i < n; i++)
            if (ranks_below(x, h[0], (int32_t)i)) {
                h[0] = (int32_t)i;
                heap_sift(h, k, 0, x);
            }
        for (int64_t m = k - 1; m > 0; m--) { /* lowest-ranked to the back */
            int32_t tmp = h[0];
            h[0] = h[m];
            h[m] = tmp;
            heap_sift(h, m, 0, x);
        }
    }
}

static mm_status opt_top_k(const mm_cpu_args *a)
{
    if (!mm_tensor_is_contiguous(a->t->src[0]))
        return mm_cpu_ref_kernels[MM_OP_TOP_K](a);
    int64_t n = a->t->src[0]->ne[0];
    mm_cpu_parallel(a->ctx, n_rows(a->t), 3.0 * (double)n, topk_rows, (void *)a);
    return MM_OK;
}

const mm_cpu_kernel mm_cpu_opt_kernels[MM_OP_COUNT] = {
    [MM_OP_CONT] = opt_cont,
    [MM_OP_STORE] = opt_store,
    [MM_OP_SET_ROWS] = opt_set_rows,
    [MM_OP_MATMUL] = mm_cpu_matmul,
    [MM_OP_ADD] = opt_eltwise,
    [MM_OP_MUL] = opt_eltwise,
    [MM_OP_SCALE] = opt_eltwise,
    [MM_OP_LAYER_NORM] = opt_layer_norm,
    [MM_OP_GELU] = opt_eltwise,
    [MM_OP_SOFTMAX] = opt_softmax,
    [MM_OP_ATTENTION] = mm_cpu_attention,
    [MM_OP_CONV1D] = mm_cpu_conv1d,
    [MM_OP_PATCH_EMBED] = mm_cpu_patch_embed,
    [MM_OP_GET_ROWS] = opt_get_rows,
    [MM_OP_CONCAT] = opt_concat,
    [MM_OP_ARGMAX] = opt_argmax,
    [MM_OP_TOP_K] = opt_top_k,
};
