/* GPT-2 with cross-attention (HF GPT2LMHeadModel, add_cross_attention), as
 * the decoder of a vision-encoder-decoder folder (config "decoder.",
 * weights "decoder."): wte + wpe, pre-LN blocks (ln_1, attn, ln_cross_attn,
 * crossattention, ln_2, mlp with gelu_new), ln_f, lm_head tied to wte.
 *
 * GPT-2's Conv1D weights are stored [in, out], the transpose of a Linear;
 * c_attn packs q|k|v (crossattention's c_attn packs k|v and q_attn is
 * separate). Each part is a transposed view of the stored weight, which the
 * matmul reads with swapped strides: no copy per step (an F16 checkpoint's
 * views are widened once into the weight set). */
#include "textdec.h"

#include <math.h>
#include <stdio.h>

static mm_status gpt2_load(textdec *d)
{
    textdec_hparams *hp = &d->hp;
    const mm_component *c = &d->c;
    char path[256];
    mm_status s;
    bool cross, scale_weights, by_layer;
    if ((s = mm_nn_config_dim(c, "vocab_size", &hp->n_vocab)) != MM_OK ||
        (s = mm_nn_config_dim(c, "n_positions", &hp->n_ctx)) != MM_OK ||
        (s = mm_nn_config_dim(c, "n_embd", &hp->n_embd)) != MM_OK ||
        (s = mm_nn_config_dim(c, "n_head", &hp->n_head)) != MM_OK ||
        (s = mm_nn_config_dim(c, "n_layer", &hp->n_layer)) != MM_OK ||
        (s = textdec_check_heads(d, "n_embd", "n_head")) != MM_OK ||
        (s = textdec_config_act(d, "activation_function", &hp->act)) != MM_OK ||
        (s = textdec_config_float_or(d, "layer_norm_epsilon", 1e-5, &hp->eps)) != MM_OK ||
        (s = textdec_config_bool_or(d, "add_cross_attention", false, &cross)) != MM_OK ||
        (s = textdec_config_bool_or(d, "scale_attn_weights", true, &scale_weights)) != MM_OK ||
        (s = textdec_config_bool_or(d, "scale_attn_by_inverse_layer_idx", false, &by_layer)) != MM_OK)
        return s;
    /* n_inner: null means 4 * n_embd. */
    mm_nn_config_key(c, "n_inner", path, sizeof path);
    if ((s = mm_config_int_or(c->model, path, 4 * hp->n_embd, &hp->n_ff)) != MM_OK)
        return mm_error_wrap(s, "config");
    if (hp->n_ff < 1 || hp->n_ff > MM_NN_MAX_DIM)
        return mm_error_set(MM_ERR_FORMAT, "config: %s = %lld (must be 1..%lld)", path, (long long)hp->n_ff,
                            (long long)MM_NN_MAX_DIM);
    if (!cross)
        return mm_error_set(MM_ERR_UNSUPPORTED, "config: %sadd_cross_attention is not true: a GPT-2 without "
                            "cross-attention cannot decode from an encoder", c->config_prefix);
    if (!scale_weights || by_layer)
        return mm_error_set(MM_ERR_UNSUPPORTED, "config: GPT-2 attention scaling other than 1/sqrt(head_dim) "
                            "(scale_attn_weights false or scale_attn_by_inverse_layer_idx) is not supported");
    /* vision-encoder-decoder projects the encoder states to n_embd when the
     * widths differ (enc_to_dec_proj, stored beside encoder. and decoder.). */
    const mm_weight *proj = mm_model_weight_find(c->model, "enc_to_dec_proj.weight");
    d->has_enc_proj = proj != NULL;
    hp->n_enc = proj && proj->n_dims == 2 ? proj->shape[1] : hp->n_embd;
    int64_t enc_width = 0;
    if (!proj && mm_config_int_or(c->model, "encoder.hidden_size", 0, &enc_width) == MM_OK && enc_width &&
        enc_width != hp->n_embd)
        return mm_error_set(MM_ERR_FORMAT, "encoder.hidden_size %lld differs from %sn_embd %lld and the folder has "
                            "no enc_to_dec_proj.weight", (long long)enc_width, c->config_prefix,
                            (long long)hp->n_embd);
    return MM_OK;
}

/* Conv1D weight `name` of block il, checked to be [in, out] (ne {out, in}). */
static mm_tensor *conv1d_weight(const textdec *d, mm_graph *g, int il, const char *name, int64_t in, int64_t out,
                                mm_status *s)
{
    mm_tensor *w = mm_nn_weight(g, &d->c, "transformer.h.%d.%s.weight", il, name);
    if (*s == MM_OK && (*s = mm_graph_status(g)) == MM_OK)
        *s = mm_nn_expect_shape(w, out, in, 1, 1);
    return w;
}

static mm_tensor *conv1d_bias(const textdec *d, mm_graph *g, int il, const char *name)
{
    return mm_nn_weight(g, &d->c, "transformer.h.%d.%s.bias", il, name);
}

static mm_status gpt2_block(const textdec *d, mm_graph *g, int il, textdec_part part, mm_nn_block *out)
{
    const mm_component *c = &d->c;
    const int64_t D = d->hp.n_embd, F = d->hp.n_ff;
    mm_status s = MM_OK;
    *out = (mm_nn_block){0};
    /* Scores / sqrt(head_dim) (scale_attn_weights). */
    const float scale = 1.0f / sqrtf((float)(D / d->hp.n_head));
    mm_nn_attn cross = {.n_head = (int32_t)d->hp.n_head, .scale = scale};
    mm_tensor *xkv = conv1d_weight(d, g, il, "crossattention.c_attn", D, 2 * D, &s);
    if (part == TEXTDEC_CROSS_KV) {
        mm_tensor *xkv_b = conv1d_bias(d, g, il, "crossattention.c_attn");
        cross.k_w = textdec_conv1d_cols(g, xkv, 0, D);
        cross.k_b = textdec_bias_part(g, xkv_b, 0, D);
        cross.v_w = textdec_conv1d_cols(g, xkv, D, D);
        cross.v_b = textdec_bias_part(g, xkv_b, D, D);
        out->cross = cross;
        return s != MM_OK ? s : mm_graph_status(g);
    }
    mm_tensor *qkv = conv1d_weight(d, g, il, "attn.c_attn", D, 3 * D, &s);
    mm_tensor *proj = conv1d_weight(d, g, il, "attn.c_proj", D, D, &s);
    mm_tensor *xq = conv1d_weight(d, g, il, "crossattention.q_attn", D, D, &s);
    mm_tensor *xproj = conv1d_weight(d, g, il, "crossattention.c_proj", D, D, &s);
    mm_tensor *fc = conv1d_weight(d, g, il, "mlp.c_fc", D, F, &s);
    mm_tensor *fc_proj = conv1d_weight(d, g, il, "mlp.c_proj", F, D, &s);
    if (s != MM_OK)
        return s;
    mm_tensor *qkv_b = conv1d_bias(d, g, il, "attn.c_attn");
    cross.q_w = textdec_conv1d_cols(g, xq, 0, D);
    cross.q_b = conv1d_bias(d, g, il, "crossattention.q_attn");
    cross.o_w = textdec_conv1d_cols(g, xproj, 0, D);
    cross.o_b = conv1d_bias(d, g, il, "crossattention.c_proj");
    *out = (mm_nn_block){
        .eps = d->hp.eps,
        .ln1 = {mm_nn_weight(g, c, "transformer.h.%d.ln_1.weight", il),
                mm_nn_weight(g, c, "transformer.h.%d.ln_1.bias", il)},
        .attn = {
            .q_w = textdec_conv1d_cols(g, qkv, 0, D),
            .q_b = textdec_bias_part(g, qkv_b, 0, D),
            .k_w = textdec_conv1d_cols(g, qkv, D, D),
            .k_b = textdec_bias_part(g, qkv_b, D, D),
            .v_w = textdec_conv1d_cols(g, qkv, 2 * D, D),
            .v_b = textdec_bias_part(g, qkv_b, 2 * D, D),
            .o_w = textdec_conv1d_cols(g, proj, 0, D),
            .o_b = conv1d_bias(d, g, il, "attn.c_proj"),
            .n_head = (int32_t)d->hp.n_head,
            .scale = scale,
        },
        .ln_cross = {mm_nn_weight(g, c, "transformer.h.%d.ln_cross_attn.weight", il),
                     mm_nn_weight(g, c, "transformer.h.%d.ln_cross_attn.bias", il)},
        .cross = cross,
        .ln2 = {mm_nn_weight(g, c, "transformer.h.%d.ln_2.weight", il),
                mm_nn_weight(g, c, "transformer.h.%d.ln_2.bias", il)},
        .fc1_w = textdec_conv1d_cols(g, fc, 0, F),
        .fc1_b = conv1d_bias(d, g, il, "mlp.c_fc"),
        .fc2_w = textdec_conv1d_cols(g, fc_proj, 0, D),
        .fc2_b = conv1d_bias(d, g, il, "mlp.c_proj"),
        .act = d->hp.act,
    };
    return mm_graph_status(g);
}

static mm_status gpt2_embeddings(const textdec *d, mm_graph *g, mm_tensor **tok, mm_tensor **pos, mm_nn_norm *final,
                                 mm_tensor **head)
{
    const mm_component *c = &d->c;
    *tok = mm_nn_weight(g, c, "transformer.wte.weight");
    *pos = mm_nn_weight(g, c, "transformer.wpe.weight");
    *final = (mm_nn_norm){mm_nn_weight(g, c, "transformer.ln_f.weight"), mm_nn_weight(g, c, "transformer.ln_f.bias")};
    /* lm_head is tied to wte; a checkpoint that stores it anyway is read. */
    *head = mm_nn_weight_opt(g, c, "lm_head.weight");
    if (!*head)
        *head = *tok;
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(*tok, d->hp.n_embd, d->hp.n_vocab, 1, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(*pos, d->hp.n_embd, d->hp.n_ctx, 1, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(*head, d->hp.n_embd, d->hp.n_vocab, 1, 1)) != MM_OK)
        return s;
    return MM_OK;
}

static mm_status gpt2_source(const textdec *d, mm_graph *g, mm_tensor *enc, mm_tensor **out)
{
    *out = enc;
    if (!d->has_enc_proj)
        return MM_OK;
    mm_tensor *w = mm_nn_weight(g, &d->top, "enc_to_dec_proj.weight");
    mm_tensor *b = mm_nn_weight(g, &d->top, "enc_to_dec_proj.bias");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(w, d->hp.n_enc, d->hp.n_embd, 1, 1)) != MM_OK)
        return s;
    *out = mm_nn_linear(g, enc, w, b);
    return mm_graph_status(g);
}

const textdec_arch textdec_gpt2 = {
    .model_type = "gpt2",
    .load = gpt2_load,
    .block = gpt2_block,
    .embeddings = gpt2_embeddings,
    .source = gpt2_source,
};
