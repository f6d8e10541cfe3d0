/* Text decoder with self- and cross-attention (ABI v2 decoder ops): the
 * Whisper decoder and GPT-2 with cross-attention (vision-encoder-decoder).
 *
 * Buffers, per layer: self K, self V {hd, T_max, H, B}, cross K, cross V
 * {hd, T_src, H, B} (per head, so attention reads them without a copy; the
 * batch outermost, as the ABI asks). A step writes its keys and values into
 * the cache at the tokens' positions (mm_set_rows, positions as ids) and
 * attends over all T_max rows with the runtime's mask: nothing in the graph
 * depends on a position, so the runtime replays it. */
#include "textdec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers for the architectures ----------------------------------------- */

mm_status textdec_config_float_or(const textdec *d, const char *key, double def, float *out)
{
    char path[256];
    double v;
    mm_status s = mm_config_float_or(d->c.model, mm_nn_config_key(&d->c, key, path, sizeof path), def, &v);
    if (s != MM_OK)
        return mm_error_wrap(s, "config");
    *out = (float)v;
    return MM_OK;
}

mm_status textdec_config_bool_or(const textdec *d, const char *key, bool def, bool *out)
{
    char path[256];
    mm_nn_config_key(&d->c, key, path, sizeof path);
    *out = def;
    if (!mm_config_has(d->c.model, path))
        return MM_OK;
    mm_status s = mm_config_bool(d->c.model, path, out);
    return s == MM_OK ? MM_OK : mm_error_wrap(s, "config");
}

mm_status textdec_config_act(const textdec *d, const char *key, mm_gelu_kind *out)
{
    char path[256];
    const char *act = NULL;
    mm_status s = mm_config_string(d->c.model, mm_nn_config_key(&d->c, key, path, sizeof path), &act);
    if (s == MM_OK)
        s = mm_nn_gelu_kind(act, out);
    return s == MM_OK ? MM_OK : mm_error_wrap(s, "config %s", path);
}

mm_status textdec_check_heads(const textdec *d, const char *width_key, const char *heads_key)
{
    if (d->hp.n_embd % d->hp.n_head)
        return mm_error_set(MM_ERR_FORMAT, "config: %s%s %lld is not divisible by %s = %lld heads",
                            d->c.config_prefix, width_key, (long long)d->hp.n_embd, heads_key,
                            (long long)d->hp.n_head);
    return MM_OK;
}

mm_tensor *textdec_conv1d_cols(mm_graph *g, mm_tensor *w, int64_t col0, int64_t n)
{
    if (!w)
        return NULL;
    size_t es = mm_tensor_nb(w, 0);
    mm_tensor *cols = mm_view(g, w, 2, (int64_t[]){n, mm_tensor_ne(w, 1)}, (size_t[]){es, mm_tensor_nb(w, 1)},
                              (size_t)col0 * es);
    return mm_transpose(g, cols);
}

mm_tensor *textdec_bias_part(mm_graph *g, mm_tensor *b, int64_t i0, int64_t n)
{
    if (!b)
        return NULL;
    return mm_view(g, b, 1, (int64_t[]){n}, (size_t[]){mm_tensor_nb(b, 0)}, (size_t)i0 * mm_tensor_nb(b, 0));
}

/* ---- load / dims ------------------------------------------------------------- */

static const textdec_arch *const archs[] = {&textdec_whisper, &textdec_gpt2};

static void textdec_free(void *state)
{
    free(state);
}

static mm_status textdec_load(const mm_component *c, void **state)
{
    *state = NULL;
    if (!c || !c->model)
        return mm_error_set(MM_ERR_INVALID, "no model given");
    textdec *d = calloc(1, sizeof *d);
    if (!d)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    d->c = *c;
    d->c.config_prefix = c->config_prefix ? c->config_prefix : "";
    d->c.weight_prefix = c->weight_prefix ? c->weight_prefix : "";
    d->top = (mm_component){.model = c->model, .config_prefix = "", .weight_prefix = ""};
    d->hp.emb_scale = 1.0f;
    /* The part's own model_type picks the architecture: "whisper" at the top
     * of a Whisper folder, "gpt2" under decoder. in a vision-encoder-decoder. */
    char path[256];
    const char *type = NULL;
    mm_status s = mm_config_string(c->model, mm_nn_config_key(&d->c, "model_type", path, sizeof path), &type);
    for (size_t i = 0; s == MM_OK && i < sizeof archs / sizeof archs[0] && !d->arch; i++)
        if (strcmp(type, archs[i]->model_type) == 0)
            d->arch = archs[i];
    if (s == MM_OK && !d->arch)
        s = mm_error_set(MM_ERR_UNSUPPORTED, "textdec: %s = \"%s\" is not a decoder it knows (whisper, gpt2)", path,
                         type);
    if (s == MM_OK)
        s = d->arch->load(d);
    if (s != MM_OK) {
        free(d);
        return s;
    }
    *state = d;
    return MM_OK;
}

static mm_status textdec_dims(const void *state, mm_decoder_dims *out)
{
    const textdec *d = state;
    *out = (mm_decoder_dims){
        .n_vocab = d->hp.n_vocab,
        .n_ctx = d->hp.n_ctx,
        .n_enc = d->hp.n_enc,
        .n_self_kv = (int32_t)(2 * d->hp.n_layer),
        .n_cross_kv = (int32_t)(2 * d->hp.n_layer),
    };
    return MM_OK;
}

static mm_status textdec_buffer_shape(const void *state, mm_decoder_buffer kind, int32_t i, int32_t batch,
                                      int64_t n_pos, mm_shape *out)
{
    const textdec_hparams *hp = &((const textdec *)state)->hp;
    if ((kind != MM_DECODER_SELF_KV && kind != MM_DECODER_CROSS_KV) || i < 0 || i >= 2 * hp->n_layer || batch < 1 ||
        n_pos < 1)
        return mm_error_set(MM_ERR_INVALID, "textdec: buffer %d of kind %d for %d sequences and %lld positions", i,
                            (int)kind, batch, (long long)n_pos);
    *out = (mm_shape){.n_dims = 4, .ne = {hp->n_embd / hp->n_head, n_pos, hp->n_head, batch}};
    return MM_OK;
}

/* ---- graphs -------------------------------------------------------------------- */

static mm_status textdec_build_cross_kv(const void *state, mm_graph *g, mm_tensor *enc, mm_tensor *const *cross_kv)
{
    const textdec *d = state;
    if (!enc || mm_tensor_ne(enc, 0) != d->hp.n_enc || mm_tensor_ne(enc, 3) != 1)
        return mm_error_set(MM_ERR_INVALID, "textdec: encoder states {%lld,%lld,%lld,%lld}, {%lld,T,B} expected",
                            (long long)mm_tensor_ne(enc, 0), (long long)mm_tensor_ne(enc, 1),
                            (long long)mm_tensor_ne(enc, 2), (long long)mm_tensor_ne(enc, 3), (long long)d->hp.n_enc);
    mm_tensor *src = enc;
    mm_status s = d->arch->source ? d->arch->source(d, g, enc, &src) : MM_OK;
    for (int il = 0; s == MM_OK && il < d->hp.n_layer; il++) {
        mm_nn_block blk;
        s = d->arch->block(d, g, il, TEXTDEC_CROSS_KV, &blk);
        if (s != MM_OK || (s = mm_graph_status(g)) != MM_OK)
            return s;
        mm_tensor *k = NULL, *v = NULL;
        mm_nn_attention_kv(g, src, &blk.cross, &k, &v);
        mm_store(g, k, cross_kv[2 * il]);
        mm_store(g, v, cross_kv[2 * il + 1]);
    }
    return s != MM_OK ? s : mm_graph_status(g);
}

/* The self-attention cache hook: this step's keys and values {hd, N, H, B}
 * go into the layer's buffers at the tokens' positions; attention then reads
 * the whole buffers (the mask hides what lies after each token). */
typedef struct cache_ctx {
    mm_tensor *k_buf, *v_buf, *ids;
} cache_ctx;

static void cache_update(void *ctx, mm_graph *g, mm_tensor **k, mm_tensor **v)
{
    const cache_ctx *c = ctx;
    *k = mm_set_rows(g, c->k_buf, *k, c->ids);
    *v = mm_set_rows(g, c->v_buf, *v, c->ids);
}

static mm_status textdec_build_step(const void *state, mm_graph *g, const mm_decoder_step_inputs *st,
                                    mm_tensor **logits)
{
    const textdec *d = state;
    const textdec_hparams *hp = &d->hp;
    *logits = NULL;
    if (!st || !st->tokens || !st->positions || !st->mask || !st->self_kv || !st->cross_kv || st->n_tokens < 1)
        return mm_error_set(MM_ERR_INVALID, "textdec: incomplete step inputs");
    int64_t n = st->n_tokens, nb = mm_tensor_ne(st->tokens, 1);
    mm_tensor *tok = NULL, *pos = NULL, *head = NULL;
    mm_nn_norm final = {0};
    mm_status s = d->arch->embeddings(d, g, &tok, &pos, &final, &head);
    if (s != MM_OK || (s = mm_graph_status(g)) != MM_OK)
        return s;
    mm_tensor *x = mm_get_rows(g, tok, st->tokens);
    if (hp->emb_scale != 1.0f)
        x = mm_scale(g, x, hp->emb_scale);
    x = mm_add(g, x, mm_get_rows(g, pos, st->positions));
    /* Positions {N, B} as set_rows ids {N, 1, B}: broadcast over the heads. */
    mm_tensor *ids = mm_reshape(g, st->positions, 3, (int64_t[]){n, 1, nb});
    for (int il = 0; il < hp->n_layer; il++) {
        mm_nn_block blk;
        if ((s = d->arch->block(d, g, il, TEXTDEC_STEP, &blk)) != MM_OK || (s = mm_graph_status(g)) != MM_OK)
            return s;
        cache_ctx cache = {st->self_kv[2 * il], st->self_kv[2 * il + 1], ids};
        blk.attn.causal = false; /* the mask says what each token sees */
        blk.attn.mask = st->mask;
        blk.attn.kv_update = cache_update;
        blk.attn.kv_ctx = &cache;
        blk.cross.k = st->cross_kv[2 * il];
        blk.cross.v = st->cross_kv[2 * il + 1];
        x = mm_nn_block_build(g, x, NULL, &blk);
        if ((s = mm_graph_status(g)) != MM_OK)
            return s;
    }
    if (st->last_logits_only && n > 1) /* norm and LM head for the last token only */
        x = mm_view(g, x, 3, (int64_t[]){hp->n_embd, 1, nb}, (size_t[]){0, mm_tensor_nb(x, 1), mm_tensor_nb(x, 2)},
                    (size_t)(n - 1) * mm_tensor_nb(x, 1));
    x = mm_layer_norm(g, x, final.w, final.b, hp->eps);
    x = mm_nn_linear(g, x, head, NULL);
    if ((s = mm_graph_status(g)) != MM_OK)
        return s;
    mm_tensor_set_name(x, "%s.logits", d->arch->model_type);
    *logits = x;
    return MM_OK;
}

/* ---- ops table --------------------------------------------------------------- */

static const mm_decoder_ops textdec_ops = {
    .load = textdec_load,
    .free = textdec_free,
    .dims = textdec_dims,
    .buffer_shape = textdec_buffer_shape,
    .build_cross_kv = textdec_build_cross_kv,
    .build_step = textdec_build_step,
};

/* Whisper's encoder role is the audio plugin's; the runtime finds each role's
 * plugin by (model_type, role). */
static const mm_plugin_model_type textdec_types[] = {
    {"whisper", MM_ROLE_DECODER},
    {"gpt2", MM_ROLE_DECODER},
    {NULL, 0},
};

static const mm_plugin textdec_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "textdec",
    .description = "text decoder with cross-attention (Whisper, GPT-2)",
    .model_types = textdec_types,
    .decoder = &textdec_ops,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &textdec_plugin;
}
