/* Reference kernels: one naive loop nest per op, single-threaded, reading
 * every input through its byte strides (even where the builder guarantees a
 * contiguous input) and accumulating in double. They are the oracle the op
 * parity tests compare every backend against, so clarity beats speed here. */
#include "cpu_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F(ptr) (*(const float *)(ptr))

double mm_cpu_gelu_ref(double x, int kind)
{
    switch (kind) {
    case MM_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case MM_GELU_QUICK:
        return x / (1.0 + exp(-1.702 * x));
    default:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    }
}

/* Copies element-sized values (F32 or I32) in ne order from strided src. */
static mm_status ref_cont(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    size_t es = mm_dtype_size(t->type);
    char *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++, d += es)
                    memcpy(d, mm_cpu_at(a->src[0], s, i0, i1, i2, i3), es);
    return MM_OK;
}

/* Like cont, into the store's strided region of its buffer. */
static mm_status ref_store(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    size_t es = mm_dtype_size(t->type);
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++)
                    memcpy((char *)mm_cpu_at(a->dst, t, i0, i1, i2, i3), mm_cpu_at(a->src[0], s, i0, i1, i2, i3), es);
    return MM_OK;
}

/* out[m,n,i2,i3] = sum_k a[k,m,i2/r2,i3/r3] * b[k,n,i2,i3]; r = B/A (each
 * batch of a serves r consecutive batches of b, as ggml and repeat_kv do). */
static mm_status ref_matmul(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    int64_t K = sa->ne[0], r2 = sb->ne[2] / sa->ne[2], r3 = sb->ne[3] / sa->ne[3];
    float *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t n = 0; n < t->ne[1]; n++)
                for (int64_t m = 0; m < t->ne[0]; m++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += (double)F(mm_cpu_at(a->src[0], sa, k, m, i2 / r2, i3 / r3)) *
                               (double)F(mm_cpu_at(a->src[1], sb, k, n, i2, i3));
                    *d++ = (float)acc;
                }
    return MM_OK;
}

/* b's index along a dimension it broadcasts over is 0. */
static int64_t bcast(const mm_tensor *b, int dim, int64_t i)
{
    return b->ne[dim] == 1 ? 0 : i;
}

static mm_status ref_binary(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    float *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++) {
                    float x = F(mm_cpu_at(a->src[0], sa, i0, i1, i2, i3));
                    float y = F(mm_cpu_at(a->src[1], sb, bcast(sb, 0, i0), bcast(sb, 1, i1), bcast(sb, 2, i2),
                                          bcast(sb, 3, i3)));
                    *d++ = t->op == MM_OP_ADD ? x + y : x * y;
                }
    return MM_OK;
}

/* SCALE and GELU: out = f(x) elementwise. */
static mm_status ref_unary(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    float *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++) {
                    double x = F(mm_cpu_at(a->src[0], s, i0, i1, i2, i3));
                    *d++ = (float)(t->op == MM_OP_SCALE ? x * t->op_f[0] : mm_cpu_gelu_ref(x, t->op_i[0]));
                }
    return MM_OK;
}

/* Element i of a 1-D parameter (weight/bias) whatever its shape. */
static double param_at(const void *base, const mm_tensor *p, int64_t i)
{
    int64_t i0 = i % p->ne[0], r = i / p->ne[0];
    int64_t i1 = r % p->ne[1], i2 = (r / p->ne[1]) % p->ne[2], i3 = r / (p->ne[1] * p->ne[2]);
    return F(mm_cpu_at(base, p, i0, i1, i2, i3));
}

static mm_status ref_layer_norm(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    int64_t n = t->ne[0];
    float *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                double mean = 0, var = 0;
                for (int64_t i0 = 0; i0 < n; i0++)
                    mean += F(mm_cpu_at(a->src[0], s, i0, i1, i2, i3));
                mean /= (double)n;
                for (int64_t i0 = 0; i0 < n; i0++) {
                    double c = F(mm_cpu_at(a->src[0], s, i0, i1, i2, i3)) - mean;
                    var += c * c;
                }
                double inv = 1.0 / sqrt(var / (double)n + (double)t->op_f[0]);
                for (int64_t i0 = 0; i0 < n; i0++) {
                    double y = (F(mm_cpu_at(a->src[0], s, i0, i1, i2, i3)) - mean) * inv;
                    if (t->src[1])
                        y *= param_at(a->src[1], t->src[1], i0);
                    if (t->src[2])
                        y += param_at(a->src[2], t->src[2], i0);
                    *d++ = (float)y;
                }
            }
    return MM_OK;
}

/* softmax of logits[0..n) into out; -INFINITY entries are masked, and a row
 * with every entry masked becomes zeros. */
static void softmax_row_ref(const double *logits, int64_t n, double *out)
{
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < n; j++)
        if (logits[j] > mx)
            mx = logits[j];
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < n; j++)
            out[j] = 0;
        return;
    }
    for (int64_t j = 0; j < n; j++) {
        out[j] = logits[j] == -INFINITY ? 0 : exp(logits[j] - mx);
        sum += out[j];
    }
    for (int64_t j = 0; j < n; j++)
        out[j] /= sum;
}

/* Additive mask value for key j of row (i1,i2,i3); mask dims of 1 broadcast. */
static double mask_at(const mm_cpu_args *a, int si, int64_t j, int64_t i1, int64_t i2, int64_t i3)
{
    const mm_tensor *m = a->t->src[si];
    if (!m)
        return 0;
    return F(mm_cpu_at(a->src[si], m, j, bcast(m, 1, i1), bcast(m, 2, i2), bcast(m, 3, i3)));
}

static bool causal_masked(int64_t j, int64_t i, int64_t nk, int64_t nq)
{
    return j > i + (nk - nq);
}

static mm_status ref_softmax(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    int64_t nk = t->ne[0], nq = t->ne[1];
    double *logits = malloc((size_t)nk * 2 * sizeof *logits);
    if (!logits)
        return mm_error_set(MM_ERR_NOMEM, "softmax: out of memory");
    double *p = logits + nk;
    float *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < nq; i1++) {
                for (int64_t j = 0; j < nk; j++) {
                    logits[j] = (double)F(mm_cpu_at(a->src[0], s, j, i1, i2, i3)) * t->op_f[0] +
                                mask_at(a, 1, j, i1, i2, i3);
                    if (t->op_i[0] && causal_masked(j, i1, nk, nq))
                        logits[j] = -INFINITY;
                }
                softmax_row_ref(logits, nk, p);
                for (int64_t j = 0; j < nk; j++)
                    *d++ = (float)p[j];
            }
    free(logits);
    return MM_OK;
}

/* q {D,Tq,H,B}, k {D,Tk,Hkv,B}, v {Dv,Tk,Hkv,B} -> out {Dv,H,Tq,B};
 * query head h reads kv head h / (H/Hkv). */
static mm_status ref_attention(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], H = q->ne[2], B = q->ne[3];
    int64_t Tk = k->ne[1], Dv = v->ne[0], rep = H / k->ne[2];
    double *logits = malloc((size_t)Tk * 2 * sizeof *logits);
    if (!logits)
        return mm_error_set(MM_ERR_NOMEM, "attention: out of memory");
    double *p = logits + Tk;
    float *out = a->dst;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                for (int64_t j = 0; j < Tk; j++) {
                    double dot = 0;
                    for (int64_t c = 0; c < D; c++)
                        dot += (double)F(mm_cpu_at(a->src[0], q, c, i, h, b)) *
                               (double)F(mm_cpu_at(a->src[1], k, c, j, h / rep, b));
                    logits[j] = dot * t->op_f[0] + mask_at(a, 3, j, i, h, b);
                    if (t->op_i[0] && causal_masked(j, i, Tk, Tq))
                        logits[j] = -INFINITY;
                }
                softmax_row_ref(logits, Tk, p);
                float *o = out + ((b * Tq + i) * H + h) * Dv;
                for (int64_t c = 0; c < Dv; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < Tk; j++)
                        acc += p[j] * (double)F(mm_cpu_at(a->src[2], v, c, j, h / rep, b));
                    o[c] = (float)acc;
                }
            }
    free(logits);
    return MM_OK;
}

/* x {T,Cin,B}, w {K,Cin,Cout}, b {Cout}? -> {Tout,Cout,B}, zero padding. */
static mm_status ref_conv1d(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *x = t->src[0], *w = t->src[1];
    int64_t T = x->ne[0], Cin = x->ne[1], K = w->ne[0];
    int32_t stride = t->op_i[0], pad = t->op_i[1];
    float *d = a->dst;
    for (int64_t b = 0; b < t->ne[2]; b++)
        for (int64_t co = 0; co < t->ne[1]; co++)
            for (int64_t o = 0; o < t->ne[0]; o++) {
                double acc = t->src[2] ? param_at(a->src[2], t->src[2], co) : 0;
                for (int64_t ci = 0; ci < Cin; ci++)
                    for (int64_t kk = 0; kk < K; kk++) {
                        int64_t ti = o * stride + kk - pad;
                        if (ti >= 0 && ti < T)
                            acc += (double)F(mm_cpu_at(a->src[1], w, kk, ci, co, 0)) *
                                   (double)F(mm_cpu_at(a->src[0], x, ti, ci, b, 0));
                    }
                *d++ = (float)acc;
            }
    return MM_OK;
}

/* x {W,H,C,B}, w {P,P,C,Cout}, b? -> {Cout, (H/P)*(W/P), B}, row-major patches. */
static mm_status ref_patch_embed(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *x = t->src[0], *w = t->src[1];
    int64_t P = w->ne[0], C = w->ne[2], Cout = w->ne[3], pw = x->ne[0] / P;
    float *d = a->dst;
    for (int64_t b = 0; b < t->ne[2]; b++)
        for (int64_t p = 0; p < t->ne[1]; p++) {
            int64_t py = p / pw, px = p % pw;
            for (int64_t co = 0; co < Cout; co++) {
                double acc = t->src[2] ? param_at(a->src[2], t->src[2], co) : 0;
                for (int64_t c = 0; c < C; c++)
                    for (int64_t ky = 0; ky < P; ky++)
                        for (int64_t kx = 0; kx < P; kx++)
                            acc += (double)F(mm_cpu_at(a->src[1], w, kx, ky, c, co)) *
                                   (double)F(mm_cpu_at(a->src[0], x, px * P + kx, py * P + ky, c, b));
                *d++ = (float)acc;
            }
        }
    return MM_OK;
}

static mm_status ref_get_rows(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *tab = t->src[0], *ids = t->src[1];
    float *d = a->dst;
    for (int64_t b = 0; b < ids->ne[1]; b++)
        for (int64_t n = 0; n < ids->ne[0]; n++) {
            int32_t id = *(const int32_t *)mm_cpu_at(a->src[1], ids, n, b, 0, 0);
            if (id < 0 || id >= tab->ne[1])
                return mm_error_set(MM_ERR_INVALID, "get_rows: id %d at [%lld,%lld] is outside the table's %lld rows",
                                    id, (long long)b, (long long)n, (long long)tab->ne[1]);
            for (int64_t c = 0; c < tab->ne[0]; c++)
                *d++ = F(mm_cpu_at(a->src[0], tab, c, id, 0, 0));
        }
    return MM_OK;
}

/* Row n of src into row ids[n] of the node's region of its buffer, batch
 * by batch (ids broadcast where their ne is 1) and in order, so a row
 * listed twice in a batch ends up with the later one. Every id is checked
 * before anything is written. */
static mm_status ref_set_rows(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0], *ids = t->src[1];
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i3 = 0; i3 < s->ne[3]; i3++)
            for (int64_t i2 = 0; i2 < s->ne[2]; i2++)
                for (int64_t n = 0; n < s->ne[1]; n++) {
                    int32_t id = *(const int32_t *)mm_cpu_at(a->src[1], ids, n, bcast(ids, 1, i2), bcast(ids, 2, i3), 0);
                    if (pass == 0 && (id < 0 || id >= t->ne[1]))
                        return mm_error_set(MM_ERR_INVALID,
                                            "set_rows: id %d (row %lld of batch %lld,%lld) is outside the destination's %lld rows",
                                            id, (long long)n, (long long)i2, (long long)i3, (long long)t->ne[1]);
                    for (int64_t i0 = 0; pass == 1 && i0 < s->ne[0]; i0++)
                        memcpy((char *)mm_cpu_at(a->dst, t, i0, id, i2, i3), mm_cpu_at(a->src[0], s, i0, n, i2, i3), 4);
                }
    return MM_OK;
}

static mm_status ref_concat(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *sa = t->src[0], *sb = t->src[1];
    int dim = t->op_i[0];
    size_t es = mm_dtype_size(t->type);
    char *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++, d += es) {
                    int64_t i[4] = {i0, i1, i2, i3};
                    if (i[dim] < sa->ne[dim]) {
                        memcpy(d, mm_cpu_at(a->src[0], sa, i0, i1, i2, i3), es);
                    } else {
                        i[dim] -= sa->ne[dim];
                        memcpy(d, mm_cpu_at(a->src[1], sb, i[0], i[1], i[2], i[3]), es);
                    }
                }
    return MM_OK;
}

/* True when value x at index ix ranks before y at iy: larger first, then
 * lower index. */
static bool ranks_before(float x, int64_t ix, float y, int64_t iy)
{
    return x > y || (x == y && ix < iy);
}

static mm_status ref_argmax(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    int32_t *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                int64_t best = 0;
                for (int64_t j = 1; j < s->ne[0]; j++)
                    if (ranks_before(F(mm_cpu_at(a->src[0], s, j, i1, i2, i3)), j,
                                     F(mm_cpu_at(a->src[0], s, best, i1, i2, i3)), best))
                        best = j;
                *d++ = (int32_t)best;
            }
    return MM_OK;
}

/* Insertion into a sorted list of at most k entries: O(N*k), obviously right. */
static mm_status ref_top_k(const mm_cpu_args *a)
{
    const mm_tensor *t = a->t, *s = t->src[0];
    int64_t k = t->op_i[0];
    int32_t *d = a->dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++, d += k) {
                int64_t n = 0;
                for (int64_t j = 0; j < s->ne[0]; j++) {
                    float x = F(mm_cpu_at(a->src[0], s, j, i1, i2, i3));
                    int64_t pos = n;
                    while (pos > 0 && ranks_before(x, j, F(mm_cpu_at(a->src[0], s, d[pos - 1], i1, i2, i3)), d[pos - 1]))
                        pos--;
                    if (pos >= k)
                        continue;
                    if (n < k)
                        n++;
                    memmove(d + pos + 1, d + pos, (size_t)(n - 1 - pos) * sizeof *d);
                    d[pos] = (int32_t)j;
                }
            }
    return MM_OK;
}

const mm_cpu_kernel mm_cpu_ref_kernels[MM_OP_COUNT] = {
    [MM_OP_CONT] = ref_cont,
    [MM_OP_STORE] = ref_store,
    [MM_OP_SET_ROWS] = ref_set_rows,
    [MM_OP_MATMUL] = ref_matmul,
    [MM_OP_ADD] = ref_binary,
    [MM_OP_MUL] = ref_binary,
    [MM_OP_SCALE] = ref_unary,
    [MM_OP_LAYER_NORM] = ref_layer_norm,
    [MM_OP_GELU] = ref_unary,
    [MM_OP_SOFTMAX] = ref_softmax,
    [MM_OP_ATTENTION] = ref_attention,
    [MM_OP_CONV1D] = ref_conv1d,
    [MM_OP_PATCH_EMBED] = ref_patch_embed,
    [MM_OP_GET_ROWS] = ref_get_rows,
    [MM_OP_CONCAT] = ref_concat,
    [MM_OP_ARGMAX] = ref_argmax,
    [MM_OP_TOP_K] = ref_top_k,
};
