/* Transformer building blocks shared by the plugins (mm/nn.h): weight lookup
 * by component prefix, linear, multi-head attention, feed-forward. Nothing
 * here knows a model; shapes are checked against the weights actually given
 * so a wrong checkpoint fails with the weight's name instead of garbage. */
#include "graph_impl.h"
#include "mm/nn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static mm_tensor *nn_weight_v(mm_graph *g, const mm_component *c, bool required, const char *fmt, va_list ap)
{
    if (!g || g->status != MM_OK)
        return NULL;
    if (!c || !c->model)
        return mm_graph_fail(g, MM_ERR_INVALID, "nn: weight lookup without a model");
    char name[512];
    const char *prefix = c->weight_prefix ? c->weight_prefix : "";
    size_t n = strlen(prefix);
    if (n >= sizeof name)
        return mm_graph_fail(g, MM_ERR_INVALID, "nn: weight prefix too long");
    memcpy(name, prefix, n);
    int len = vsnprintf(name + n, sizeof name - n, fmt, ap);
    if (len < 0 || (size_t)len >= sizeof name - n)
        return mm_graph_fail(g, MM_ERR_INVALID, "nn: weight name %s... too long", name);
    const mm_weight *w = mm_model_weight_find(c->model, name);
    if (!w) {
        if (required)
            return mm_graph_fail(g, MM_ERR_FORMAT, "weight %s is missing from %s", name, mm_model_dir(c->model));
        return NULL;
    }
    return mm_graph_weight(g, w);
}

mm_tensor *mm_nn_weight(mm_graph *g, const mm_component *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mm_tensor *t = nn_weight_v(g, c, true, fmt, ap);
    va_end(ap);
    return t;
}

mm_tensor *mm_nn_weight_opt(mm_graph *g, const mm_component *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mm_tensor *t = nn_weight_v(g, c, false, fmt, ap);
    va_end(ap);
    return t;
}

const char *mm_nn_config_key(const mm_component *c, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", c && c->config_prefix ? c->config_prefix : "", key);
    return buf;
}

static mm_status nn_config_dim(const mm_component *c, const char *key, const int64_t *def, int64_t *out)
{
    char path[256];
    mm_nn_config_key(c, key, path, sizeof path);
    mm_status s = def ? mm_config_int_or(c->model, path, *def, out) : mm_config_int(c->model, path, out);
    if (s != MM_OK)
        return mm_error_wrap(s, "config");
    if (*out < 1 || *out > MM_NN_MAX_DIM)
        return mm_error_set(MM_ERR_FORMAT, "config: %s = %lld (must be 1..%lld)", path, (long long)*out,
                            (long long)MM_NN_MAX_DIM);
    return MM_OK;
}

mm_status mm_nn_config_dim(const mm_component *c, const char *key, int64_t *out)
{
    return nn_config_dim(c, key, NULL, out);
}

mm_status mm_nn_config_dim_or(const mm_component *c, const char *key, int64_t def, int64_t *out)
{
    return nn_config_dim(c, key, &def, out);
}

mm_status mm_nn_expect_shape(const mm_tensor *t, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
    const int64_t want[4] = {ne0, ne1, ne2, ne3};
    int64_t got[4];
    bool same = true;
    for (int i = 0; i < 4; i++) {
        got[i] = mm_tensor_ne(t, i);
        same = same && got[i] == want[i];
    }
    if (same)
        return MM_OK;
    return mm_error_set(MM_ERR_FORMAT, "weight %s is {%lld,%lld,%lld,%lld} (ne order), {%lld,%lld,%lld,%lld} expected",
                        mm_tensor_name(t), (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3],
                        (long long)want[0], (long long)want[1], (long long)want[2], (long long)want[3]);
}

mm_tensor *mm_nn_linear(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b)
{
    if (!g || g->status != MM_OK)
        return NULL;
    if (!x || !w)
        return mm_graph_fail(g, MM_ERR_INVALID, "linear: NULL %s", x ? "weight" : "input");
    /* Name the weight in errors: a wrong checkpoint shows up here first. */
    if (w->n_dims != 2 || w->ne[0] != x->ne[0])
        return mm_graph_fail(g, MM_ERR_FORMAT, "linear %s: weight is {%lld,%lld,%lld,%lld} (ne order), input has %lld features",
                       w->name, (long long)w->ne[0], (long long)w->ne[1], (long long)w->ne[2], (long long)w->ne[3],
                       (long long)x->ne[0]);
    if (b && (b->n_dims != 1 || b->ne[0] != w->ne[1]))
        return mm_graph_fail(g, MM_ERR_FORMAT, "linear %s: bias %s has %lld elements, %lld outputs", w->name, b->name,
                       (long long)mm_tensor_nelements(b), (long long)w->ne[1]);
    mm_tensor *y = mm_matmul(g, w, x);
    return b ? mm_add(g, y, b) : y;
}

/* x {D,T,B} -> per-head {hd,T,H,B}. The reshape splits D into heads; the
 * permute is a view that keeps rows contiguous, which is all attention needs. */
static mm_tensor *split_heads(mm_graph *g, mm_tensor *x, int32_t n_head)
{
    int64_t ne[4] = {x->ne[0] / n_head, n_head, x->ne[1], x->ne[2]};
    return mm_permute(g, mm_reshape(g, x, 4, ne), 0, 2, 1, 3);
}

static bool is_dtb(const mm_tensor *t)
{
    return t->ne[3] == 1;
}

void mm_nn_attention_kv(mm_graph *g, mm_tensor *kv, const mm_nn_attn *a, mm_tensor **k, mm_tensor **v)
{
    *k = *v = NULL;
    if (!g || g->status != MM_OK)
        return;
    if (!kv || !a || !is_dtb(kv) || a->n_head < 1) {
        mm_graph_fail(g, MM_ERR_INVALID, "attention: no {D,T,B} keys/values input or %d heads", a ? a->n_head : 0);
        return;
    }
    mm_tensor *kp = mm_nn_linear(g, kv, a->k_w, a->k_b);
    mm_tensor *vp = mm_nn_linear(g, kv, a->v_w, a->v_b);
    if (g->status != MM_OK)
        return;
    if (kp->ne[0] % a->n_head || vp->ne[0] % a->n_head) {
        mm_graph_fail(g, MM_ERR_FORMAT, "attention %s: k/v widths %lld/%lld do not split into %d heads", a->k_w->name,
                      (long long)kp->ne[0], (long long)vp->ne[0], a->n_head);
        return;
    }
    *k = split_heads(g, kp, a->n_head);
    *v = split_heads(g, vp, a->n_head);
}

mm_tensor *mm_nn_attention(mm_graph *g, mm_tensor *x, mm_tensor *kv, const mm_nn_attn *a)
{
    if (!g || g->status != MM_OK)
        return NULL;
    if (!x || !a)
        return mm_graph_fail(g, MM_ERR_INVALID, "attention: NULL input");
    if (!kv && !(a->k && a->v))
        return mm_graph_fail(g, MM_ERR_INVALID, "attention %s: no keys/values (neither an input nor stored k/v)",
                             a->q_w ? a->q_w->name : "");
    if (!is_dtb(x) || (kv && (!is_dtb(kv) || x->ne[2] != kv->ne[2])))
        return mm_graph_fail(g, MM_ERR_INVALID, "attention: x {%lld,%lld,%lld,%lld} and kv {%lld,%lld,%lld,%lld} are not {D,T,B}",
                       (long long)x->ne[0], (long long)x->ne[1], (long long)x->ne[2], (long long)x->ne[3],
                       (long long)(kv ? kv->ne[0] : 0), (long long)(kv ? kv->ne[1] : 0),
                       (long long)(kv ? kv->ne[2] : 0), (long long)(kv ? kv->ne[3] : 0));
    if (a->n_head < 1)
        return mm_graph_fail(g, MM_ERR_INVALID, "attention: %d heads", a->n_head);
    int64_t tq = x->ne[1], nb = x->ne[2];
    /* Sequences sharing a source's stored keys: the r sequences of a source
     * become r*Tq query rows of one attention over it (rows are independent
     * without a mask), the batch order being source-major. */
    int64_t r = 1;
    if (a->k && a->v && a->k->ne[3] < nb) {
        if (nb % a->k->ne[3] || a->mask || a->causal || a->kv_update)
            return mm_graph_fail(g, MM_ERR_INVALID, "attention %s: %lld sequences over stored keys of %lld sources "
                                 "(must divide, without a mask)", a->q_w ? a->q_w->name : "", (long long)nb,
                                 (long long)a->k->ne[3]);
        r = nb / a->k->ne[3];
        x = mm_reshape(g, x, 3, (int64_t[]){x->ne[0], tq * r, nb / r});
    }
    mm_tensor *q = mm_nn_linear(g, x, a->q_w, a->q_b), *k = a->k, *v = a->v;
    if (!(k && v))
        mm_nn_attention_kv(g, kv, a, &k, &v);
    if (g->status != MM_OK)
        return NULL;
    int64_t hd = q->ne[0] / a->n_head;
    if (q->ne[0] % a->n_head || k->ne[0] != hd || k->ne[2] < 1 || a->n_head % k->ne[2])
        return mm_graph_fail(g, MM_ERR_FORMAT, "attention %s: q width %lld does not split into %d heads of keys {%lld,..,%lld heads}",
                       a->q_w->name, (long long)q->ne[0], a->n_head, (long long)k->ne[0], (long long)k->ne[2]);
    if (a->kv_update) {
        a->kv_update(a->kv_ctx, g, &k, &v);
        if (g->status != MM_OK)
            return NULL;
        if (!k || !v)
            return mm_graph_fail(g, MM_ERR_INVALID, "attention %s: the cache gave no keys/values", a->q_w->name);
    }
    /* {hd_v, H, Tq, B}: heads adjacent, so merging them is a plain reshape
     * (which also unfolds shared sources: their rows are source-major). */
    mm_tensor *o = mm_attention(g, split_heads(g, q, a->n_head), k, v, a->mask, a->scale, a->causal);
    o = mm_reshape(g, o, nb > 1 ? 3 : 2, (int64_t[]){v->ne[0] * a->n_head, tq, nb});
    return mm_nn_linear(g, o, a->o_w, a->o_b);
}

mm_tensor *mm_nn_ffn(mm_graph *g, mm_tensor *x, mm_tensor *w1, mm_tensor *b1, mm_tensor *w2, mm_tensor *b2,
                     mm_gelu_kind act)
{
    mm_tensor *h = mm_gelu(g, mm_nn_linear(g, x, w1, b1), act);
    return mm_nn_linear(g, h, w2, b2);
}

mm_tensor *mm_nn_block_build(mm_graph *g, mm_tensor *x, mm_tensor *enc, const mm_nn_block *b)
{
    if (!g || g->status != MM_OK)
        return NULL;
    if (!x || !b)
        return mm_graph_fail(g, MM_ERR_INVALID, "block: NULL input");
    mm_tensor *h = mm_layer_norm(g, x, b->ln1.w, b->ln1.b, b->eps);
    x = mm_add(g, x, mm_nn_attention(g, h, h, &b->attn));
    if (b->cross.q_w) {
        h = mm_layer_norm(g, x, b->ln_cross.w, b->ln_cross.b, b->eps);
        x = mm_add(g, x, mm_nn_attention(g, h, enc, &b->cross));
    }
    h = mm_layer_norm(g, x, b->ln2.w, b->ln2.b, b->eps);
    h = mm_nn_ffn(g, h, b->fc1_w, b->fc1_b, b->fc2_w, b->fc2_b, b->act);
    return mm_add(g, x, h);
}

mm_tensor *mm_nn_prepend_row(mm_graph *g, mm_tensor *x, mm_tensor *tok)
{
    if (!g || g->status != MM_OK)
        return NULL;
    if (!x || !tok)
        return mm_graph_fail(g, MM_ERR_INVALID, "prepend_row: NULL input");
    if (!is_dtb(x))
        return mm_graph_fail(g, MM_ERR_INVALID, "prepend_row: input is not {D,T,B}");
    if (mm_tensor_nelements(tok) != x->ne[0])
        return mm_graph_fail(g, MM_ERR_FORMAT, "prepend_row: %s has %lld elements for rows of %lld", tok->name,
                             (long long)mm_tensor_nelements(tok), (long long)x->ne[0]);
    /* The graph API has no repeat: B copies of the row by doubling concats
     * (log2 B ops, not B). */
    int64_t nb = x->ne[2];
    mm_tensor *row = mm_reshape(g, tok, 3, (int64_t[]){x->ne[0], 1, 1});
    mm_tensor *rows = row;
    int64_t have = 1;
    while (have * 2 <= nb) {
        rows = mm_concat(g, rows, rows, 2);
        have *= 2;
    }
    /* The remainder from the copies already made, largest first. */
    for (int64_t part = have / 2; have < nb; part /= 2) {
        if (have + part > nb)
            continue;
        mm_tensor *more = part == 1 ? row
                                    : mm_view(g, rows, 3, (int64_t[]){x->ne[0], 1, part},
                                              (size_t[]){0, rows->nb[1], rows->nb[2]}, 0);
        rows = mm_concat(g, rows, more, 2);
        have += part;
    }
    return mm_concat(g, rows, x, 1);
}

mm_status mm_nn_gelu_kind(const char *hidden_act, mm_gelu_kind *out)
{
    /* Hugging Face ACT2FN names. gelu_fast and gelu_pytorch_tanh are the same
     * tanh formula as gelu_new, written differently. */
    static const struct {
        const char *name;
        mm_gelu_kind kind;
    } names[] = {
        {"gelu", MM_GELU_ERF},          {"gelu_new", MM_GELU_TANH},     {"gelu_pytorch_tanh", MM_GELU_TANH},
        {"gelu_fast", MM_GELU_TANH},    {"quick_gelu", MM_GELU_QUICK},
    };
    if (!hidden_act)
        return mm_error_set(MM_ERR_INVALID, "activation: no name given");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(hidden_act, names[i].name) == 0) {
            *out = names[i].kind;
            return MM_OK;
        }
    }
    return mm_error_set(MM_ERR_UNSUPPORTED,
                        "activation \"%s\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu)",
                        hidden_act);
}
