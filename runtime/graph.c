/* Graph builder: shape checking, views, and the automatic contiguous copies
 * some kernels need. Nothing here computes; backends do. */
#include "graph_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mm_graph *mm_graph_init(void)
{
    mm_graph *g = calloc(1, sizeof *g);
    if (!g)
        mm_error_set(MM_ERR_NOMEM, "graph: out of memory");
    return g;
}

void mm_graph_free(mm_graph *g)
{
    if (!g)
        return;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i]->out_data);
        free(g->nodes[i]);
    }
    free(g->nodes);
    free(g);
}

mm_status mm_graph_status(const mm_graph *g)
{
    if (!g)
        return mm_error_set(MM_ERR_INVALID, "graph: NULL graph");
    if (g->status != MM_OK)
        mm_error_set(g->status, "%s", g->error);
    return g->status;
}

int32_t mm_graph_n_nodes(const mm_graph *g)
{
    return g ? g->n_nodes : 0;
}

mm_tensor *mm_graph_fail(mm_graph *g, mm_status s, const char *fmt, ...)
{
    if (g->status == MM_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->error, sizeof g->error, fmt, ap);
        va_end(ap);
        g->status = s;
    }
    mm_error_set(g->status, "%s", g->error);
    return NULL;
}

static void set_contiguous_strides(mm_tensor *t)
{
    t->nb[0] = mm_dtype_size(t->type);
    for (int i = 1; i < MM_MAX_DIMS; i++)
        t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
}

static mm_tensor *new_tensor(mm_graph *g, mm_op op, mm_dtype type, int32_t n_dims, const int64_t *ne)
{
    if (g->status != MM_OK)
        return NULL;
    if (n_dims < 1 || n_dims > MM_MAX_DIMS)
        return mm_graph_fail(g, MM_ERR_INVALID, "%s: %d dimensions (1..%d allowed)", mm_op_name(op), n_dims, MM_MAX_DIMS);
    int64_t total = 1;
    for (int i = 0; i < n_dims; i++) {
        if (ne[i] < 1 || ne[i] > MM_MAX_ELEMENTS)
            return mm_graph_fail(g, MM_ERR_INVALID, "%s: dimension %d has size %lld", mm_op_name(op), i, (long long)ne[i]);
        total *= ne[i];
        if (total > MM_MAX_ELEMENTS)
            return mm_graph_fail(g, MM_ERR_NOMEM, "%s: tensor of more than 2^36 elements", mm_op_name(op));
    }
    if (g->n_nodes == g->cap) {
        int32_t cap = g->cap ? g->cap * 2 : 256;
        mm_tensor **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return mm_graph_fail(g, MM_ERR_NOMEM, "graph: out of memory");
        g->nodes = nodes;
        g->cap = cap;
    }
    mm_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return mm_graph_fail(g, MM_ERR_NOMEM, "graph: out of memory");
    t->op = op;
    t->type = t->storage = type;
    t->n_dims = n_dims;
    for (int i = 0; i < MM_MAX_DIMS; i++)
        t->ne[i] = i < n_dims ? ne[i] : 1;
    set_contiguous_strides(t);
    t->index = g->n_nodes;
    g->nodes[g->n_nodes++] = t;
    return t;
}

/* n_dims of a shape: index of the last dimension > 1, plus one. */
static int32_t dims_of(const int64_t ne[MM_MAX_DIMS])
{
    int32_t n = MM_MAX_DIMS;
    while (n > 1 && ne[n - 1] == 1)
        n--;
    return n;
}

/* ---- leaves ---------------------------------------------------------------- */

mm_tensor *mm_graph_input(mm_graph *g, mm_dtype type, int32_t n_dims, const int64_t *ne, const void *data)
{
    if (g->status == MM_OK && type != MM_DTYPE_F32 && type != MM_DTYPE_I32)
        return mm_graph_fail(g, MM_ERR_INVALID, "input: dtype %s (F32 or I32 expected)", mm_dtype_name(type));
    mm_tensor *t = new_tensor(g, MM_OP_NONE, type, n_dims, ne);
    if (t) {
        t->flags |= MM_TENSOR_INPUT;
        t->host_data = data;
    }
    return t;
}

void mm_tensor_set_data(mm_tensor *t, const void *data)
{
    if (t && (t->flags & MM_TENSOR_INPUT))
        t->host_data = data;
}

mm_tensor *mm_graph_constant(mm_graph *g, mm_dtype storage, int32_t n_dims, const int64_t *ne, const void *data)
{
    if (g->status != MM_OK)
        return NULL;
    if (storage == MM_DTYPE_I32 || (unsigned)storage >= MM_DTYPE_COUNT)
        return mm_graph_fail(g, MM_ERR_INVALID, "constant: dtype %s (F32, F16 or BF16 expected)", mm_dtype_name(storage));
    if (!data)
        return mm_graph_fail(g, MM_ERR_INVALID, "constant: no data");
    mm_tensor *t = new_tensor(g, MM_OP_NONE, MM_DTYPE_F32, n_dims, ne);
    if (t) {
        t->storage = storage;
        t->flags |= MM_TENSOR_CONSTANT;
        t->host_data = data;
    }
    return t;
}

mm_tensor *mm_graph_weight(mm_graph *g, const mm_weight *w)
{
    if (g->status != MM_OK)
        return NULL;
    if (!w)
        return mm_graph_fail(g, MM_ERR_INVALID, "weight: NULL");
    if (w->n_dims < 0 || w->n_dims > MM_MAX_DIMS)
        return mm_graph_fail(g, MM_ERR_UNSUPPORTED, "weight %s: %d dimensions", w->name, w->n_dims);
    int64_t ne[MM_MAX_DIMS] = {1, 1, 1, 1};
    for (int i = 0; i < w->n_dims; i++)
        ne[i] = w->shape[w->n_dims - 1 - i];
    mm_tensor *t = mm_graph_constant(g, w->dtype, w->n_dims ? w->n_dims : 1, ne, w->data);
    if (t) {
        t->weight = w;
        mm_tensor_set_name(t, "%s", w->name);
    }
    return t;
}

void mm_graph_output(mm_graph *g, mm_tensor *t)
{
    if (!t || g->status != MM_OK)
        return;
    t->flags |= MM_TENSOR_OUTPUT;
    if (t->op == MM_OP_NONE || t->view_src) /* leaves and views (stores too) own no node memory */
        t->readback = mm_cont(g, t);
    else
        t->readback = t;
}

/* ---- inspection -------------------------------------------------------------- */

mm_dtype mm_tensor_type(const mm_tensor *t) { return t->type; }
int32_t mm_tensor_n_dims(const mm_tensor *t) { return t->n_dims; }
int64_t mm_tensor_ne(const mm_tensor *t, int32_t dim) { return dim >= 0 && dim < MM_MAX_DIMS ? t->ne[dim] : 1; }
size_t mm_tensor_nb(const mm_tensor *t, int32_t dim) { return dim >= 0 && dim < MM_MAX_DIMS ? t->nb[dim] : 0; }

int64_t mm_tensor_nelements(const mm_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

bool mm_tensor_is_contiguous(const mm_tensor *t)
{
    size_t expect = mm_dtype_size(t->type);
    for (int i = 0; i < MM_MAX_DIMS; i++) {
        if (t->ne[i] != 1 && t->nb[i] != expect)
            return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

bool mm_tensor_rows_contiguous(const mm_tensor *t)
{
    return t->ne[0] == 1 || t->nb[0] == mm_dtype_size(t->type);
}

size_t mm_tensor_nbytes(const mm_tensor *t)
{
    return (size_t)mm_tensor_nelements(t) * mm_dtype_size(t->type);
}

size_t mm_tensor_span_bytes(const mm_tensor *t)
{
    size_t span = mm_dtype_size(t->type);
    for (int i = 0; i < MM_MAX_DIMS; i++)
        span += (size_t)(t->ne[i] - 1) * t->nb[i];
    return span;
}

void mm_tensor_set_name(mm_tensor *t, const char *fmt, ...)
{
    if (!t)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
}

const char *mm_tensor_name(const mm_tensor *t)
{
    return t->name;
}

const void *mm_tensor_data(const mm_tensor *t)
{
    return t ? t->out_data : NULL;
}

mm_status mm_tensor_read(const mm_tensor *t, void *dst, size_t nbytes)
{
    if (!t || !(t->flags & MM_TENSOR_OUTPUT))
        return mm_error_set(MM_ERR_INVALID, "tensor read: not marked as a graph output");
    if (!t->out_data)
        return mm_error_set(MM_ERR_INVALID, "tensor read: graph not computed yet");
    if (nbytes != mm_tensor_nbytes(t))
        return mm_error_set(MM_ERR_INVALID, "tensor read: %zu bytes requested, tensor has %zu", nbytes,
                            mm_tensor_nbytes(t));
    memcpy(dst, t->out_data, nbytes);
    return MM_OK;
}

const char *mm_op_name(mm_op op)
{
    static const char *names[MM_OP_COUNT] = {
        "leaf", "view", "cont", "matmul", "add", "mul", "scale", "layer_norm", "gelu", "softmax",
        "attention", "conv1d", "patch_embed", "get_rows", "concat", "argmax", "top_k", "store",
        "set_rows",
    };
    return (unsigned)op < MM_OP_COUNT ? names[op] : "?";
}

/* ---- op helpers ------------------------------------------------------------- */

/* Checks inputs are present and of the expected type. */
static bool check_src(mm_graph *g, mm_op op, mm_tensor *t, mm_dtype type, const char *what)
{
    if (g->status != MM_OK)
        return false;
    if (!t) {
        mm_graph_fail(g, MM_ERR_INVALID, "%s: %s is NULL", mm_op_name(op), what);
        return false;
    }
    if (t->type != type) {
        mm_graph_fail(g, MM_ERR_INVALID, "%s: %s has dtype %s, %s expected", mm_op_name(op), what, mm_dtype_name(t->type),
             mm_dtype_name(type));
        return false;
    }
    return true;
}

static mm_tensor *contiguous(mm_graph *g, mm_tensor *t)
{
    if (!t || mm_tensor_is_contiguous(t))
        return t;
    return mm_cont(g, t);
}

static mm_tensor *unary(mm_graph *g, mm_op op, mm_tensor *a)
{
    if (!check_src(g, op, a, MM_DTYPE_F32, "input"))
        return NULL;
    mm_tensor *t = new_tensor(g, op, MM_DTYPE_F32, a->n_dims, a->ne);
    if (t)
        t->src[0] = a;
    return t;
}

static mm_tensor *binary(mm_graph *g, mm_op op, mm_tensor *a, mm_tensor *b)
{
    if (!check_src(g, op, a, MM_DTYPE_F32, "a") || !check_src(g, op, b, MM_DTYPE_F32, "b"))
        return NULL;
    for (int i = 0; i < MM_MAX_DIMS; i++)
        if (b->ne[i] != 1 && b->ne[i] != a->ne[i])
            return mm_graph_fail(g, MM_ERR_INVALID,
                        "%s: b {%lld,%lld,%lld,%lld} does not broadcast to a {%lld,%lld,%lld,%lld}", mm_op_name(op),
                        (long long)b->ne[0], (long long)b->ne[1], (long long)b->ne[2], (long long)b->ne[3],
                        (long long)a->ne[0], (long long)a->ne[1], (long long)a->ne[2], (long long)a->ne[3]);
    mm_tensor *t = new_tensor(g, op, MM_DTYPE_F32, a->n_dims, a->ne);
    if (t) {
        t->src[0] = a;
        t->src[1] = b;
    }
    return t;
}

/* ---- ops ----------------------------------------------------------------------- */

mm_tensor *mm_matmul(mm_graph *g, mm_tensor *a, mm_tensor *b)
{
    if (!check_src(g, MM_OP_MATMUL, a, MM_DTYPE_F32, "a") || !check_src(g, MM_OP_MATMUL, b, MM_DTYPE_F32, "b"))
        return NULL;
    if (a->ne[0] != b->ne[0])
        return mm_graph_fail(g, MM_ERR_INVALID, "matmul: inner dimensions differ (a has K=%lld, b has K=%lld)",
                    (long long)a->ne[0], (long long)b->ne[0]);
    if (b->ne[2] % a->ne[2] || b->ne[3] % a->ne[3])
        return mm_graph_fail(g, MM_ERR_INVALID, "matmul: batch {%lld,%lld} of a does not divide {%lld,%lld} of b",
                    (long long)a->ne[2], (long long)a->ne[3], (long long)b->ne[2], (long long)b->ne[3]);
    int64_t ne[4] = {a->ne[1], b->ne[1], b->ne[2], b->ne[3]};
    mm_tensor *t = new_tensor(g, MM_OP_MATMUL, MM_DTYPE_F32, dims_of(ne) < 2 ? 2 : dims_of(ne), ne);
    if (t) {
        t->src[0] = a;
        t->src[1] = b;
    }
    return t;
}

mm_tensor *mm_add(mm_graph *g, mm_tensor *a, mm_tensor *b) { return binary(g, MM_OP_ADD, a, b); }
mm_tensor *mm_mul(mm_graph *g, mm_tensor *a, mm_tensor *b) { return binary(g, MM_OP_MUL, a, b); }

mm_tensor *mm_scale(mm_graph *g, mm_tensor *a, float s)
{
    mm_tensor *t = unary(g, MM_OP_SCALE, a);
    if (t)
        t->op_f[0] = s;
    return t;
}

mm_tensor *mm_gelu(mm_graph *g, mm_tensor *x, mm_gelu_kind kind)
{
    if (g->status == MM_OK && (kind < MM_GELU_ERF || kind > MM_GELU_QUICK))
        return mm_graph_fail(g, MM_ERR_INVALID, "gelu: unknown kind %d", (int)kind);
    mm_tensor *t = unary(g, MM_OP_GELU, x);
    if (t)
        t->op_i[0] = (int32_t)kind;
    return t;
}

mm_tensor *mm_layer_norm(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b, float eps)
{
    if (!check_src(g, MM_OP_LAYER_NORM, x, MM_DTYPE_F32, "x"))
        return NULL;
    if (w && (!check_src(g, MM_OP_LAYER_NORM, w, MM_DTYPE_F32, "weight") || mm_tensor_nelements(w) != x->ne[0]))
        return mm_graph_fail(g, MM_ERR_INVALID, "layer_norm: weight has %lld elements, %lld expected",
                    w ? (long long)mm_tensor_nelements(w) : 0LL, (long long)x->ne[0]);
    if (b && (!check_src(g, MM_OP_LAYER_NORM, b, MM_DTYPE_F32, "bias") || mm_tensor_nelements(b) != x->ne[0]))
        return mm_graph_fail(g, MM_ERR_INVALID, "layer_norm: bias has %lld elements, %lld expected",
                    b ? (long long)mm_tensor_nelements(b) : 0LL, (long long)x->ne[0]);
    x = contiguous(g, x);
    w = contiguous(g, w);
    b = contiguous(g, b);
    mm_tensor *t = unary(g, MM_OP_LAYER_NORM, x);
    if (t) {
        t->src[1] = w;
        t->src[2] = b;
        t->op_f[0] = eps;
    }
    return t;
}

/* Checks an additive mask against scores/rows of shape {nk, nq, h, b}. */
static mm_tensor *prepare_mask(mm_graph *g, mm_op op, mm_tensor *mask, int64_t nk, int64_t nq, int64_t h, int64_t b)
{
    if (!mask)
        return NULL;
    if (!check_src(g, op, mask, MM_DTYPE_F32, "mask"))
        return NULL;
    if (mask->ne[0] != nk || (mask->ne[1] != nq && mask->ne[1] != 1) || (mask->ne[2] != h && mask->ne[2] != 1) ||
        (mask->ne[3] != b && mask->ne[3] != 1))
        return mm_graph_fail(g, MM_ERR_INVALID, "%s: mask {%lld,%lld,%lld,%lld} does not fit scores {%lld,%lld,%lld,%lld}",
                    mm_op_name(op), (long long)mask->ne[0], (long long)mask->ne[1], (long long)mask->ne[2],
                    (long long)mask->ne[3], (long long)nk, (long long)nq, (long long)h, (long long)b);
    return contiguous(g, mask);
}

mm_tensor *mm_softmax(mm_graph *g, mm_tensor *x, mm_tensor *mask, float scale, bool causal)
{
    if (!check_src(g, MM_OP_SOFTMAX, x, MM_DTYPE_F32, "x"))
        return NULL;
    mask = prepare_mask(g, MM_OP_SOFTMAX, mask, x->ne[0], x->ne[1], x->ne[2], x->ne[3]);
    x = contiguous(g, x);
    mm_tensor *t = unary(g, MM_OP_SOFTMAX, x);
    if (t) {
        t->src[1] = mask;
        t->op_f[0] = scale;
        t->op_i[0] = causal;
    }
    return t;
}

static mm_tensor *rows_contiguous(mm_graph *g, mm_tensor *t)
{
    return t && !mm_tensor_rows_contiguous(t) ? mm_cont(g, t) : t;
}

mm_tensor *mm_attention(mm_graph *g, mm_tensor *q, mm_tensor *k, mm_tensor *v, mm_tensor *mask, float scale,
                        bool causal)
{
    if (!check_src(g, MM_OP_ATTENTION, q, MM_DTYPE_F32, "q") || !check_src(g, MM_OP_ATTENTION, k, MM_DTYPE_F32, "k") ||
        !check_src(g, MM_OP_ATTENTION, v, MM_DTYPE_F32, "v"))
        return NULL;
    if (q->ne[0] != k->ne[0])
        return mm_graph_fail(g, MM_ERR_INVALID, "attention: q head size %lld != k head size %lld", (long long)q->ne[0],
                    (long long)k->ne[0]);
    if (k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2] || k->ne[3] != v->ne[3])
        return mm_graph_fail(g, MM_ERR_INVALID, "attention: k {%lld,%lld,%lld,%lld} and v {%lld,%lld,%lld,%lld} differ",
                    (long long)k->ne[0], (long long)k->ne[1], (long long)k->ne[2], (long long)k->ne[3],
                    (long long)v->ne[0], (long long)v->ne[1], (long long)v->ne[2], (long long)v->ne[3]);
    if (q->ne[2] % k->ne[2] || q->ne[3] != k->ne[3])
        return mm_graph_fail(g, MM_ERR_INVALID, "attention: %lld query heads / batch %lld vs %lld kv heads / batch %lld",
                    (long long)q->ne[2], (long long)q->ne[3], (long long)k->ne[2], (long long)k->ne[3]);
    mask = prepare_mask(g, MM_OP_ATTENTION, mask, k->ne[1], q->ne[1], q->ne[2], q->ne[3]);
    q = rows_contiguous(g, q);
    k = rows_contiguous(g, k);
    v = rows_contiguous(g, v);
    int64_t ne[4] = {v->ne[0], q->ne[2], q->ne[1], q->ne[3]};
    mm_tensor *t = new_tensor(g, MM_OP_ATTENTION, MM_DTYPE_F32, q->ne[3] > 1 ? 4 : 3, ne);
    if (t) {
        t->src[0] = q;
        t->src[1] = k;
        t->src[2] = v;
        t->src[3] = mask;
        t->op_f[0] = scale;
        t->op_i[0] = causal;
    }
    return t;
}

mm_tensor *mm_conv1d(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b, int32_t stride, int32_t pad)
{
    if (!check_src(g, MM_OP_CONV1D, x, MM_DTYPE_F32, "x") || !check_src(g, MM_OP_CONV1D, w, MM_DTYPE_F32, "weight"))
        return NULL;
    if (b && !check_src(g, MM_OP_CONV1D, b, MM_DTYPE_F32, "bias"))
        return NULL;
    if (stride < 1 || pad < 0)
        return mm_graph_fail(g, MM_ERR_INVALID, "conv1d: stride %d, padding %d", stride, pad);
    if (x->ne[3] != 1 || w->ne[3] != 1 || w->ne[1] != x->ne[1])
        return mm_graph_fail(g, MM_ERR_INVALID, "conv1d: input {%lld,%lld,%lld,%lld} and weight {%lld,%lld,%lld,%lld} disagree",
                    (long long)x->ne[0], (long long)x->ne[1], (long long)x->ne[2], (long long)x->ne[3],
                    (long long)w->ne[0], (long long)w->ne[1], (long long)w->ne[2], (long long)w->ne[3]);
    if (b && mm_tensor_nelements(b) != w->ne[2])
        return mm_graph_fail(g, MM_ERR_INVALID, "conv1d: bias has %lld elements, %lld channels", (long long)mm_tensor_nelements(b),
                    (long long)w->ne[2]);
    int64_t span = x->ne[0] + 2 * (int64_t)pad - w->ne[0];
    if (span < 0)
        return mm_graph_fail(g, MM_ERR_INVALID, "conv1d: kernel %lld longer than padded input %lld", (long long)w->ne[0],
                    (long long)(x->ne[0] + 2 * pad));
    x = contiguous(g, x);
    w = contiguous(g, w);
    b = contiguous(g, b);
    int64_t ne[4] = {span / stride + 1, w->ne[2], x->ne[2], 1};
    mm_tensor *t = new_tensor(g, MM_OP_CONV1D, MM_DTYPE_F32, x->ne[2] > 1 ? 3 : 2, ne);
    if (t) {
        t->src[0] = x;
        t->src[1] = w;
        t->src[2] = b;
        t->op_i[0] = stride;
        t->op_i[1] = pad;
    }
    return t;
}

mm_tensor *mm_patch_embed(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b)
{
    if (!check_src(g, MM_OP_PATCH_EMBED, x, MM_DTYPE_F32, "x") ||
        !check_src(g, MM_OP_PATCH_EMBED, w, MM_DTYPE_F32, "weight"))
        return NULL;
    if (b && !check_src(g, MM_OP_PATCH_EMBED, b, MM_DTYPE_F32, "bias"))
        return NULL;
    int64_t p = w->ne[0];
    if (w->ne[1] != p || w->ne[2] != x->ne[2] || x->ne[0] % p || x->ne[1] % p)
        return mm_graph_fail(g, MM_ERR_INVALID,
                    "patch_embed: image {%lld,%lld,%lld} does not tile into patches of weight {%lld,%lld,%lld,%lld}",
                    (long long)x->ne[0], (long long)x->ne[1], (long long)x->ne[2], (long long)w->ne[0],
                    (long long)w->ne[1], (long long)w->ne[2], (long long)w->ne[3]);
    if (b && mm_tensor_nelements(b) != w->ne[3])
        return mm_graph_fail(g, MM_ERR_INVALID, "patch_embed: bias has %lld elements, %lld channels",
                    (long long)mm_tensor_nelements(b), (long long)w->ne[3]);
    x = contiguous(g, x);
    w = contiguous(g, w);
    b = contiguous(g, b);
    int64_t ne[4] = {w->ne[3], (x->ne[0] / p) * (x->ne[1] / p), x->ne[3], 1};
    mm_tensor *t = new_tensor(g, MM_OP_PATCH_EMBED, MM_DTYPE_F32, x->ne[3] > 1 ? 3 : 2, ne);
    if (t) {
        t->src[0] = x;
        t->src[1] = w;
        t->src[2] = b;
    }
    return t;
}

mm_tensor *mm_get_rows(mm_graph *g, mm_tensor *table, mm_tensor *ids)
{
    if (!check_src(g, MM_OP_GET_ROWS, table, MM_DTYPE_F32, "table") ||
        !check_src(g, MM_OP_GET_ROWS, ids, MM_DTYPE_I32, "ids"))
        return NULL;
    if (table->ne[2] != 1 || table->ne[3] != 1 || ids->ne[2] != 1 || ids->ne[3] != 1)
        return mm_graph_fail(g, MM_ERR_INVALID, "get_rows: table must be 2-D and ids at most 2-D");
    table = contiguous(g, table);
    ids = contiguous(g, ids);
    int64_t ne[4] = {table->ne[0], ids->ne[0], ids->ne[1], 1};
    mm_tensor *t = new_tensor(g, MM_OP_GET_ROWS, MM_DTYPE_F32, ids->ne[1] > 1 ? 3 : 2, ne);
    if (t) {
        t->src[0] = table;
        t->src[1] = ids;
    }
    return t;
}

mm_tensor *mm_concat(mm_graph *g, mm_tensor *a, mm_tensor *b, int32_t dim)
{
    if (g->status != MM_OK)
        return NULL;
    if (!a || !b)
        return mm_graph_fail(g, MM_ERR_INVALID, "concat: NULL input");
    if (!check_src(g, MM_OP_CONCAT, b, a->type, "b"))
        return NULL;
    if (dim < 0 || dim >= MM_MAX_DIMS)
        return mm_graph_fail(g, MM_ERR_INVALID, "concat: dimension %d", dim);
    int64_t ne[4];
    for (int i = 0; i < MM_MAX_DIMS; i++) {
        if (i != dim && a->ne[i] != b->ne[i])
            return mm_graph_fail(g, MM_ERR_INVALID, "concat: dimension %d differs (%lld vs %lld)", i, (long long)a->ne[i],
                        (long long)b->ne[i]);
        ne[i] = i == dim ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    int32_t nd = dims_of(ne);
    if (nd < a->n_dims)
        nd = a->n_dims;
    mm_tensor *t = new_tensor(g, MM_OP_CONCAT, a->type, nd, ne);
    if (t) {
        t->src[0] = a;
        t->src[1] = b;
        t->op_i[0] = dim;
    }
    return t;
}

mm_tensor *mm_cont(mm_graph *g, mm_tensor *a)
{
    if (g->status != MM_OK)
        return NULL;
    if (!a)
        return mm_graph_fail(g, MM_ERR_INVALID, "cont: NULL input");
    mm_tensor *t = new_tensor(g, MM_OP_CONT, a->type, a->n_dims, a->ne);
    if (t)
        t->src[0] = a;
    return t;
}

static mm_tensor *new_view(mm_graph *g, mm_tensor *a, int32_t n_dims, const int64_t *ne, const size_t *nb,
                           size_t offset)
{
    mm_tensor *t = new_tensor(g, MM_OP_VIEW, a->type, n_dims, ne);
    if (!t)
        return NULL;
    for (int i = 0; i < MM_MAX_DIMS; i++)
        t->nb[i] = nb[i];
    t->src[0] = a;
    t->view_src = mm_tensor_root(a);
    t->view_offs = mm_tensor_offset(a) + offset;
    if (mm_tensor_offset(t) + mm_tensor_span_bytes(t) > mm_tensor_span_bytes(t->view_src))
        return mm_graph_fail(g, MM_ERR_INVALID, "view: reaches past the end of its source");
    return t;
}

mm_tensor *mm_reshape(mm_graph *g, mm_tensor *a, int32_t n_dims, const int64_t *ne)
{
    if (g->status != MM_OK)
        return NULL;
    if (!a)
        return mm_graph_fail(g, MM_ERR_INVALID, "reshape: NULL input");
    if (n_dims < 1 || n_dims > MM_MAX_DIMS)
        return mm_graph_fail(g, MM_ERR_INVALID, "reshape: %d dimensions", n_dims);
    int64_t n = 1, full[4] = {1, 1, 1, 1};
    for (int i = 0; i < n_dims; i++) {
        n *= ne[i];
        full[i] = ne[i];
    }
    if (n != mm_tensor_nelements(a))
        return mm_graph_fail(g, MM_ERR_INVALID, "reshape: %lld elements into %lld", (long long)mm_tensor_nelements(a),
                    (long long)n);
    a = contiguous(g, a);
    if (!a)
        return NULL;
    size_t nb[4];
    nb[0] = mm_dtype_size(a->type);
    for (int i = 1; i < 4; i++)
        nb[i] = nb[i - 1] * (size_t)full[i - 1];
    return new_view(g, a, n_dims, full, nb, 0);
}

mm_tensor *mm_view(mm_graph *g, mm_tensor *a, int32_t n_dims, const int64_t *ne, const size_t *nb, size_t offset)
{
    if (g->status != MM_OK)
        return NULL;
    if (!a)
        return mm_graph_fail(g, MM_ERR_INVALID, "view: NULL input");
    if (n_dims < 1 || n_dims > MM_MAX_DIMS)
        return mm_graph_fail(g, MM_ERR_INVALID, "view: %d dimensions", n_dims);
    int64_t full_ne[4] = {1, 1, 1, 1};
    size_t full_nb[4];
    full_nb[0] = mm_dtype_size(a->type);
    for (int i = 0; i < n_dims; i++)
        full_ne[i] = ne[i];
    for (int i = 1; i < 4; i++)
        full_nb[i] = i < n_dims ? nb[i] : full_nb[i - 1] * (size_t)full_ne[i - 1];
    return new_view(g, a, n_dims, full_ne, full_nb, offset);
}

mm_tensor *mm_permute(mm_graph *g, mm_tensor *a, int32_t ax0, int32_t ax1, int32_t ax2, int32_t ax3)
{
    if (g->status != MM_OK)
        return NULL;
    if (!a)
        return mm_graph_fail(g, MM_ERR_INVALID, "permute: NULL input");
    int32_t ax[4] = {ax0, ax1, ax2, ax3};
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        if (ax[i] < 0 || ax[i] > 3 || (seen & (1 << ax[i])))
            return mm_graph_fail(g, MM_ERR_INVALID, "permute: axes (%d,%d,%d,%d) are not a permutation", ax0, ax1, ax2, ax3);
        seen |= 1 << ax[i];
    }
    int64_t ne[4];
    size_t nb[4];
    for (int i = 0; i < 4; i++) {
        ne[ax[i]] = a->ne[i];
        nb[ax[i]] = a->nb[i];
    }
    int32_t nd = dims_of(ne);
    if (nd < a->n_dims)
        nd = a->n_dims;
    mm_tensor *t = new_tensor(g, MM_OP_VIEW, a->type, nd, ne);
    if (!t)
        return NULL;
    memcpy(t->nb, nb, sizeof nb);
    t->src[0] = a;
    t->view_src = mm_tensor_root(a);
    t->view_offs = mm_tensor_offset(a);
    return t;
}

mm_tensor *mm_transpose(mm_graph *g, mm_tensor *a)
{
    return mm_permute(g, a, 1, 0, 2, 3);
}

mm_tensor *mm_argmax(mm_graph *g, mm_tensor *a)
{
    if (!check_src(g, MM_OP_ARGMAX, a, MM_DTYPE_F32, "input"))
        return NULL;
    a = contiguous(g, a);
    int64_t ne[4] = {1, a->ne[1], a->ne[2], a->ne[3]};
    mm_tensor *t = new_tensor(g, MM_OP_ARGMAX, MM_DTYPE_I32, a->n_dims, ne);
    if (t)
        t->src[0] = a;
    return t;
}

mm_tensor *mm_top_k(mm_graph *g, mm_tensor *a, int32_t k)
{
    if (!check_src(g, MM_OP_TOP_K, a, MM_DTYPE_F32, "input"))
        return NULL;
    if (k < 1 || k > a->ne[0])
        return mm_graph_fail(g, MM_ERR_INVALID, "top_k: k = %d with %lld values per row", k, (long long)a->ne[0]);
    a = contiguous(g, a);
    int64_t ne[4] = {k, a->ne[1], a->ne[2], a->ne[3]};
    mm_tensor *t = new_tensor(g, MM_OP_TOP_K, MM_DTYPE_I32, a->n_dims, ne);
    if (t) {
        t->src[0] = a;
        t->op_i[0] = k;
    }
    return t;
}

/* ---- persistent buffers ---------------------------------------------------------- */

mm_tensor *mm_graph_buffer(mm_graph *g, mm_buffer *buf)
{
    if (g->status != MM_OK)
        return NULL;
    if (!buf)
        return mm_graph_fail(g, MM_ERR_INVALID, "buffer: NULL");
    mm_tensor *t = new_tensor(g, MM_OP_NONE, buf->type, buf->n_dims, buf->ne);
    if (t) {
        t->flags |= MM_TENSOR_BUFFER;
        t->buffer = buf;
    }
    return t;
}

mm_tensor *mm_store(mm_graph *g, mm_tensor *src, mm_tensor *dst)
{
    if (g->status != MM_OK)
        return NULL;
    if (!src || !dst)
        return mm_graph_fail(g, MM_ERR_INVALID, "store: NULL %s", src ? "destination" : "source");
    mm_tensor *root = mm_tensor_root(dst);
    if (!(root->flags & MM_TENSOR_BUFFER))
        return mm_graph_fail(g, MM_ERR_INVALID, "store: the destination is not (a view of) a buffer");
    if (src->type != dst->type)
        return mm_graph_fail(g, MM_ERR_INVALID, "store: %s into %s", mm_dtype_name(src->type), mm_dtype_name(dst->type));
    for (int i = 0; i < MM_MAX_DIMS; i++)
        if (src->ne[i] != dst->ne[i])
            return mm_graph_fail(g, MM_ERR_INVALID, "store: source {%lld,%lld,%lld,%lld} into {%lld,%lld,%lld,%lld}",
                                 (long long)src->ne[0], (long long)src->ne[1], (long long)src->ne[2],
                                 (long long)src->ne[3], (long long)dst->ne[0], (long long)dst->ne[1],
                                 (long long)dst->ne[2], (long long)dst->ne[3]);
    mm_tensor *t = new_tensor(g, MM_OP_STORE, dst->type, dst->n_dims, dst->ne);
    if (!t)
        return NULL;
    for (int i = 0; i < MM_MAX_DIMS; i++)
        t->nb[i] = dst->nb[i];
    t->src[0] = src;
    t->view_src = root;
    t->view_offs = mm_tensor_offset(dst);
    return t;
}

/* Whether no two elements of t share memory: taken by increasing stride,
 * each dimension steps past everything the smaller ones span. */
static bool elements_disjoint(const mm_tensor *t)
{
    int dim[MM_MAX_DIMS], n = 0;
    for (int i = 0; i < MM_MAX_DIMS; i++) {
        if (t->ne[i] == 1)
            continue;
        int j = n++;
        for (; j > 0 && t->nb[dim[j - 1]] > t->nb[i]; j--)
            dim[j] = dim[j - 1];
        dim[j] = i;
    }
    size_t span = mm_dtype_size(t->type);
    for (int k = 0; k < n; k++) {
        if (t->nb[dim[k]] < span)
            return false;
        span += (size_t)(t->ne[dim[k]] - 1) * t->nb[dim[k]];
    }
    return true;
}

/* Whether a and b are regions of one persistent buffer whose byte ranges meet. */
static bool buffer_regions_meet(mm_tensor *a, mm_tensor *b)
{
    const mm_tensor *ra = mm_tensor_root(a), *rb = mm_tensor_root(b);
    if (!(ra->flags & MM_TENSOR_BUFFER) || !(rb->flags & MM_TENSOR_BUFFER) || ra->buffer != rb->buffer)
        return false;
    size_t a0 = mm_tensor_offset(a), b0 = mm_tensor_offset(b);
    return a0 < b0 + mm_tensor_span_bytes(b) && b0 < a0 + mm_tensor_span_bytes(a);
}

#define SHAPE4(t) (long long)(t)->ne[0], (long long)(t)->ne[1], (long long)(t)->ne[2], (long long)(t)->ne[3]

mm_tensor *mm_set_rows(mm_graph *g, mm_tensor *dst, mm_tensor *src, mm_tensor *ids)
{
    const mm_op op = MM_OP_SET_ROWS;
    if (!check_src(g, op, dst, MM_DTYPE_F32, "destination") || !check_src(g, op, src, MM_DTYPE_F32, "source") ||
        !check_src(g, op, ids, MM_DTYPE_I32, "ids"))
        return NULL;
    mm_tensor *root = mm_tensor_root(dst);
    if (!(root->flags & MM_TENSOR_BUFFER))
        return mm_graph_fail(g, MM_ERR_INVALID, "set_rows: the destination is not (a view of) a buffer");
    if (!mm_tensor_rows_contiguous(dst))
        return mm_graph_fail(g, MM_ERR_INVALID, "set_rows: the destination's rows are not contiguous (nb[0] = %zu)",
                             dst->nb[0]);
    if (!elements_disjoint(dst))
        return mm_graph_fail(g, MM_ERR_INVALID, "set_rows: the destination view {%lld,%lld,%lld,%lld} overlaps itself",
                             SHAPE4(dst));
    if (src->ne[0] != dst->ne[0] || src->ne[2] != dst->ne[2] || src->ne[3] != dst->ne[3])
        return mm_graph_fail(g, MM_ERR_INVALID,
                             "set_rows: source {%lld,%lld,%lld,%lld} does not fit destination {%lld,%lld,%lld,%lld} "
                             "(ne[0], ne[2] and ne[3] must match)",
                             SHAPE4(src), SHAPE4(dst));
    if (ids->ne[0] != src->ne[1] || (ids->ne[1] != 1 && ids->ne[1] != src->ne[2]) ||
        (ids->ne[2] != 1 && ids->ne[2] != src->ne[3]) || ids->ne[3] != 1)
        return mm_graph_fail(g, MM_ERR_INVALID,
                             "set_rows: ids {%lld,%lld,%lld,%lld} do not fit source {%lld,%lld,%lld,%lld} "
                             "({%lld, %lld or 1, %lld or 1} expected)",
                             SHAPE4(ids), SHAPE4(src), (long long)src->ne[1], (long long)src->ne[2],
                             (long long)src->ne[3]);
    if (buffer_regions_meet(src, dst))
        return mm_graph_fail(g, MM_ERR_INVALID, "set_rows: the source overlaps the destination in their buffer");
    ids = contiguous(g, ids);
    mm_tensor *t = new_tensor(g, op, dst->type, dst->n_dims, dst->ne);
    if (!t)
        return NULL;
    for (int i = 0; i < MM_MAX_DIMS; i++)
        t->nb[i] = dst->nb[i];
    t->src[0] = src;
    t->src[1] = ids;
    t->view_src = root;
    t->view_offs = mm_tensor_offset(dst);
    return t;
}

/* ---- planning -------------------------------------------------------------------- */

mm_status mm_graph_alloc_outputs(mm_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        mm_tensor *t = g->nodes[i];
        if (!(t->flags & MM_TENSOR_OUTPUT) || t->out_data)
            continue;
        t->out_data = malloc(mm_tensor_nbytes(t));
        if (!t->out_data)
            return mm_error_set(MM_ERR_NOMEM, "graph: cannot allocate %zu bytes for output %s", mm_tensor_nbytes(t),
                                t->name);
    }
    return MM_OK;
}

mm_status mm_graph_plan_build(const mm_graph *g, mm_graph_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    int32_t n = g->n_nodes;
    plan->n = n;
    plan->needed = calloc((size_t)n + 1, sizeof *plan->needed);
    plan->last_use = malloc(((size_t)n + 1) * sizeof *plan->last_use);
    plan->order = malloc(((size_t)n + 1) * sizeof *plan->order);
    if (!plan->needed || !plan->last_use || !plan->order) {
        mm_graph_plan_free(plan);
        return mm_error_set(MM_ERR_NOMEM, "graph: out of memory planning %d nodes", n);
    }
    /* Mark backwards: creation order is topological. */
    bool any = false;
    for (int32_t i = n - 1; i >= 0; i--) {
        mm_tensor *t = g->nodes[i];
        if (t->flags & MM_TENSOR_OUTPUT) {
            plan->needed[t->readback->index] = true;
            any = true;
        }
        if (mm_op_writes_buffer(t->op)) /* a side effect: runs unread */
            any = plan->needed[i] = true;
        if (!plan->needed[i])
            continue;
        for (int s = 0; s < MM_MAX_SRC; s++)
            if (t->src[s])
                plan->needed[t->src[s]->index] = true;
        if (t->view_src)
            plan->needed[t->view_src->index] = true;
    }
    if (!any) {
        mm_graph_plan_free(plan);
        return mm_error_set(MM_ERR_INVALID, "graph: no outputs marked (mm_graph_output) and no stores");
    }
    for (int32_t i = 0; i < n; i++) {
        mm_tensor *t = g->nodes[i];
        plan->last_use[i] = -1;
        if (plan->needed[i] && t->op != MM_OP_NONE && t->op != MM_OP_VIEW)
            plan->order[plan->n_order++] = t;
    }
    for (int32_t pos = 0; pos < plan->n_order; pos++) {
        mm_tensor *t = plan->order[pos];
        for (int s = 0; s < MM_MAX_SRC; s++)
            if (t->src[s])
                plan->last_use[mm_tensor_root(t->src[s])->index] = pos;
    }
    for (int32_t i = 0; i < n; i++)
        if (g->nodes[i]->flags & MM_TENSOR_OUTPUT)
            plan->last_use[g->nodes[i]->readback->index] = INT32_MAX;
    return MM_OK;
}

void mm_graph_plan_half_weights(const mm_graph *g, const mm_graph_plan *plan, bool get_rows, mm_dtype *out)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const mm_tensor *t = g->nodes[i];
        bool half = (t->flags & MM_TENSOR_CONSTANT) && t->storage != MM_DTYPE_F32 && t->ne[2] == 1 && t->ne[3] == 1;
        out[i] = half ? t->storage : MM_DTYPE_F32;
    }
    for (int32_t pos = 0; pos < plan->n_order; pos++) {
        const mm_tensor *t = plan->order[pos];
        for (int s = 0; s < MM_MAX_SRC; s++) {
            mm_tensor *src = t->src[s];
            if (!src)
                continue;
            bool reads_half = s == 0 && !src->view_src && (t->op == MM_OP_MATMUL || (get_rows && t->op == MM_OP_GET_ROWS));
            if (!reads_half)
                out[mm_tensor_root(src)->index] = MM_DTYPE_F32;
        }
    }
}

void mm_graph_plan_free(mm_graph_plan *plan)
{
    free(plan->order);
    free(plan->needed);
    free(plan->last_use);
    memset(plan, 0, sizeof *plan);
}

void mm_tensor_widen_to_f32(const mm_tensor *leaf, float *dst)
{
    int64_t n = mm_tensor_nelements(leaf);
    switch (leaf->storage) {
    case MM_DTYPE_F16: {
        const uint16_t *s = leaf->host_data;
        for (int64_t i = 0; i < n; i++)
            dst[i] = mm_f16_to_f32(s[i]);
        break;
    }
    case MM_DTYPE_BF16: {
        const uint16_t *s = leaf->host_data;
        for (int64_t i = 0; i < n; i++)
            dst[i] = mm_bf16_to_f32(s[i]);
        break;
    }
    default:
        memcpy(dst, leaf->host_data, (size_t)n * 4);
        break;
    }
}
