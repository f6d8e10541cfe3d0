/* Whisper's decoder (HF WhisperDecoder), weights under "model.decoder.":
 * embed_tokens + learned embed_positions, pre-LN layers (self_attn,
 * encoder_attn over the encoder states, fc1/fc2 with the config's GELU),
 * final layer_norm, logits = x . embed_tokens^T (proj_out is tied and not
 * stored). Attention scales q by head_dim^-0.5 (the same as scaling the
 * scores); k_proj has no bias. */
#include "textdec.h"

#include <math.h>

/* nn.LayerNorm's default: Whisper's config does not store it. */
#define WHISPER_LN_EPS 1e-5f

static mm_status whisper_load(textdec *d)
{
    textdec_hparams *hp = &d->hp;
    const mm_component *c = &d->c;
    mm_status s;
    bool scale_embedding;
    if ((s = mm_nn_config_dim(c, "vocab_size", &hp->n_vocab)) != MM_OK ||
        (s = mm_nn_config_dim(c, "max_target_positions", &hp->n_ctx)) != MM_OK ||
        (s = mm_nn_config_dim(c, "d_model", &hp->n_embd)) != MM_OK ||
        (s = mm_nn_config_dim(c, "decoder_attention_heads", &hp->n_head)) != MM_OK ||
        (s = mm_nn_config_dim(c, "decoder_layers", &hp->n_layer)) != MM_OK ||
        (s = mm_nn_config_dim(c, "decoder_ffn_dim", &hp->n_ff)) != MM_OK ||
        (s = textdec_check_heads(d, "d_model", "decoder_attention_heads")) != MM_OK ||
        (s = textdec_config_act(d, "activation_function", &hp->act)) != MM_OK ||
        (s = textdec_config_bool_or(d, "scale_embedding", false, &scale_embedding)) != MM_OK)
        return s;
    hp->n_enc = hp->n_embd; /* the encoder's d_model is the decoder's */
    hp->eps = WHISPER_LN_EPS;
    hp->emb_scale = scale_embedding ? sqrtf((float)hp->n_embd) : 1.0f;
    return MM_OK;
}

/* q, k (no bias), v, out projections of `kind` ("self_attn", "encoder_attn"). */
static mm_nn_attn whisper_attn(const textdec *d, mm_graph *g, int il, const char *kind, bool qo, bool kv)
{
    const mm_component *c = &d->c;
    mm_nn_attn a = {
        .n_head = (int32_t)d->hp.n_head,
        .scale = 1.0f / sqrtf((float)(d->hp.n_embd / d->hp.n_head)),
    };
    if (qo) {
        a.q_w = mm_nn_weight(g, c, "layers.%d.%s.q_proj.weight", il, kind);
        a.q_b = mm_nn_weight(g, c, "layers.%d.%s.q_proj.bias", il, kind);
        a.o_w = mm_nn_weight(g, c, "layers.%d.%s.out_proj.weight", il, kind);
        a.o_b = mm_nn_weight(g, c, "layers.%d.%s.out_proj.bias", il, kind);
    }
    if (kv) {
        a.k_w = mm_nn_weight(g, c, "layers.%d.%s.k_proj.weight", il, kind);
        a.v_w = mm_nn_weight(g, c, "layers.%d.%s.v_proj.weight", il, kind);
        a.v_b = mm_nn_weight(g, c, "layers.%d.%s.v_proj.bias", il, kind);
    }
    return a;
}

static mm_status whisper_block(const textdec *d, mm_graph *g, int il, textdec_part part, mm_nn_block *out)
{
    const mm_component *c = &d->c;
    *out = (mm_nn_block){0};
    if (part == TEXTDEC_CROSS_KV) {
        out->cross = whisper_attn(d, g, il, "encoder_attn", false, true);
        return mm_graph_status(g);
    }
    /* The FFN width is the one size only the config states. */
    mm_tensor *fc1_w = mm_nn_weight(g, c, "layers.%d.fc1.weight", il);
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(fc1_w, d->hp.n_embd, d->hp.n_ff, 1, 1)) != MM_OK)
        return s;
    *out = (mm_nn_block){
        .eps = d->hp.eps,
        .ln1 = {mm_nn_weight(g, c, "layers.%d.self_attn_layer_norm.weight", il),
                mm_nn_weight(g, c, "layers.%d.self_attn_layer_norm.bias", il)},
        .attn = whisper_attn(d, g, il, "self_attn", true, true),
        .ln_cross = {mm_nn_weight(g, c, "layers.%d.encoder_attn_layer_norm.weight", il),
                     mm_nn_weight(g, c, "layers.%d.encoder_attn_layer_norm.bias", il)},
        .cross = whisper_attn(d, g, il, "encoder_attn", true, false),
        .ln2 = {mm_nn_weight(g, c, "layers.%d.final_layer_norm.weight", il),
                mm_nn_weight(g, c, "layers.%d.final_layer_norm.bias", il)},
        .fc1_w = fc1_w,
        .fc1_b = mm_nn_weight(g, c, "layers.%d.fc1.bias", il),
        .fc2_w = mm_nn_weight(g, c, "layers.%d.fc2.weight", il),
        .fc2_b = mm_nn_weight(g, c, "layers.%d.fc2.bias", il),
        .act = d->hp.act,
    };
    return mm_graph_status(g);
}

static mm_status whisper_embeddings(const textdec *d, mm_graph *g, mm_tensor **tok, mm_tensor **pos,
                                    mm_nn_norm *final, mm_tensor **head)
{
    const mm_component *c = &d->c;
    *tok = mm_nn_weight(g, c, "embed_tokens.weight");
    *pos = mm_nn_weight(g, c, "embed_positions.weight");
    *final = (mm_nn_norm){mm_nn_weight(g, c, "layer_norm.weight"), mm_nn_weight(g, c, "layer_norm.bias")};
    *head = *tok; /* proj_out is tied to embed_tokens */
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(*tok, d->hp.n_embd, d->hp.n_vocab, 1, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(*pos, d->hp.n_embd, d->hp.n_ctx, 1, 1)) != MM_OK)
        return s;
    return MM_OK;
}

const textdec_arch textdec_whisper = {
    .model_type = "whisper",
    .load = whisper_load,
    .block = whisper_block,
    .embeddings = whisper_embeddings,
};
