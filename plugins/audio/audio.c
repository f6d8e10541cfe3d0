/* Whisper audio encoder (HF WhisperEncoder): log-mel features {3000, 80, B}
 * -> conv stem -> pre-LN transformer layers -> final layer_norm {D, 1500, B}.
 *
 * Weights are read under the component's weight prefix ("model.encoder." in
 * a WhisperForConditionalGeneration folder), config under its config prefix
 * ("" there). The config is checked at load; the runtime then builds the
 * graph once without data, so a wrong checkpoint is refused before any
 * compute. */
#include "mm/nn.h"
#include "mm/plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* nn.LayerNorm default; Whisper's config does not store it. */
#define WHISPER_LN_EPS 1e-5f
/* Kernel of both stem convolutions (fixed by the architecture). */
#define WHISPER_CONV_K 3
typedef struct whisper_hparams {
    int64_t n_mels;  /* num_mel_bins                                  */
    int64_t n_ctx;   /* max_source_positions: frames after the stem   */
    int64_t n_state; /* d_model                                       */
    int64_t n_head;  /* encoder_attention_heads                       */
    int64_t n_layer; /* encoder_layers                                */
    int64_t n_ff;    /* encoder_ffn_dim                               */
    mm_gelu_kind act;
} whisper_hparams;

typedef struct whisper_encoder {
    mm_component c; /* the runtime keeps it (and the model) alive until free */
    whisper_hparams hp;
} whisper_encoder;

/* ---- config ------------------------------------------------------------ */

static mm_status whisper_load_hparams(const mm_component *c, whisper_hparams *hp)
{
    mm_status s;
    if ((s = mm_nn_config_dim(c, "num_mel_bins", &hp->n_mels)) != MM_OK ||
        (s = mm_nn_config_dim(c, "max_source_positions", &hp->n_ctx)) != MM_OK ||
        (s = mm_nn_config_dim(c, "d_model", &hp->n_state)) != MM_OK ||
        (s = mm_nn_config_dim(c, "encoder_attention_heads", &hp->n_head)) != MM_OK ||
        (s = mm_nn_config_dim(c, "encoder_layers", &hp->n_layer)) != MM_OK ||
        (s = mm_nn_config_dim(c, "encoder_ffn_dim", &hp->n_ff)) != MM_OK)
        return s;
    if (hp->n_state % hp->n_head)
        return mm_error_set(MM_ERR_FORMAT, "config: d_model %lld is not divisible by %lld heads",
                            (long long)hp->n_state, (long long)hp->n_head);
    char path[256];
    const char *act = NULL;
    if ((s = mm_config_string(c->model, mm_nn_config_key(c, "activation_function", path, sizeof path), &act)) !=
            MM_OK ||
        (s = mm_nn_gelu_kind(act, &hp->act)) != MM_OK)
        return mm_error_wrap(s, "config");
    return MM_OK;
}

/* ---- graph --------------------------------------------------------------- */

/* conv1 (k3, pad 1) + gelu, conv2 (k3, stride 2, pad 1) + gelu, then
 * {T, D, B} -> {D, T, B} and + embed_positions: encoder_hidden_states[0]. */
static mm_status whisper_build_stem(const whisper_encoder *e, mm_graph *g, mm_tensor *x, mm_tensor **out)
{
    const whisper_hparams *hp = &e->hp;
    const mm_component *c = &e->c;
    mm_tensor *conv1_w = mm_nn_weight(g, c, "conv1.weight");
    mm_tensor *conv1_b = mm_nn_weight(g, c, "conv1.bias");
    mm_tensor *conv2_w = mm_nn_weight(g, c, "conv2.weight");
    mm_tensor *conv2_b = mm_nn_weight(g, c, "conv2.bias");
    mm_tensor *pos = mm_nn_weight(g, c, "embed_positions.weight");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(conv1_w, WHISPER_CONV_K, hp->n_mels, hp->n_state, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(conv2_w, WHISPER_CONV_K, hp->n_state, hp->n_state, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(pos, hp->n_state, hp->n_ctx, 1, 1)) != MM_OK)
        return s;
    x = mm_gelu(g, mm_conv1d(g, x, conv1_w, conv1_b, 1, 1), hp->act);
    x = mm_gelu(g, mm_conv1d(g, x, conv2_w, conv2_b, 2, 1), hp->act);
    *out = mm_add(g, mm_transpose(g, x), pos);
    return MM_OK;
}

/* Pre-LN layer: x + attn(ln(x)), then x + ffn(ln(x)). */
static mm_status whisper_build_layer(const whisper_encoder *e, mm_graph *g, mm_tensor **x, int il)
{
    const whisper_hparams *hp = &e->hp;
    const mm_component *c = &e->c;
    /* The linear helpers check inputs against weights; the FFN width is the
     * one size only the config states. */
    mm_tensor *fc1_w = mm_nn_weight(g, c, "layers.%d.fc1.weight", il);
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(fc1_w, hp->n_state, hp->n_ff, 1, 1)) != MM_OK)
        return s;
    mm_nn_block blk = {
        .eps = WHISPER_LN_EPS,
        .ln1 = {mm_nn_weight(g, c, "layers.%d.self_attn_layer_norm.weight", il),
                mm_nn_weight(g, c, "layers.%d.self_attn_layer_norm.bias", il)},
        /* HF scales q by head_dim^-0.5 before q.k^T; scaling the scores is
         * the same product. k_proj has no bias in Whisper. */
        .attn = {
            .q_w = mm_nn_weight(g, c, "layers.%d.self_attn.q_proj.weight", il),
            .q_b = mm_nn_weight(g, c, "layers.%d.self_attn.q_proj.bias", il),
            .k_w = mm_nn_weight(g, c, "layers.%d.self_attn.k_proj.weight", il),
            .v_w = mm_nn_weight(g, c, "layers.%d.self_attn.v_proj.weight", il),
            .v_b = mm_nn_weight(g, c, "layers.%d.self_attn.v_proj.bias", il),
            .o_w = mm_nn_weight(g, c, "layers.%d.self_attn.out_proj.weight", il),
            .o_b = mm_nn_weight(g, c, "layers.%d.self_attn.out_proj.bias", il),
            .n_head = (int32_t)hp->n_head,
            .scale = 1.0f / sqrtf((float)(hp->n_state / hp->n_head)),
        },
        .ln2 = {mm_nn_weight(g, c, "layers.%d.final_layer_norm.weight", il),
                mm_nn_weight(g, c, "layers.%d.final_layer_norm.bias", il)},
        .fc1_w = fc1_w,
        .fc1_b = mm_nn_weight(g, c, "layers.%d.fc1.bias", il),
        .fc2_w = mm_nn_weight(g, c, "layers.%d.fc2.weight", il),
        .fc2_b = mm_nn_weight(g, c, "layers.%d.fc2.bias", il),
        .act = hp->act,
    };
    *x = mm_nn_block_build(g, *x, NULL, &blk);
    return mm_graph_status(g);
}

static mm_status whisper_input_shape(const void *state, int32_t batch, mm_shape *out)
{
    const whisper_hparams *hp = &((const whisper_encoder *)state)->hp;
    if (batch < 1)
        return mm_error_set(MM_ERR_INVALID, "batch of %d", batch);
    /* The stem halves time, and positions cover exactly max_source_positions. */
    *out = (mm_shape){.n_dims = 3, .ne = {2 * hp->n_ctx, hp->n_mels, batch, 1}};
    return MM_OK;
}

static mm_status whisper_build(const void *state, mm_graph *g, mm_tensor *input, mm_tensor **out)
{
    const whisper_encoder *e = state;
    const whisper_hparams *hp = &e->hp;
    *out = NULL;
    if (!g || !input)
        return mm_error_set(MM_ERR_INVALID, "NULL graph or input");
    if (mm_tensor_ne(input, 0) != 2 * hp->n_ctx || mm_tensor_ne(input, 1) != hp->n_mels || mm_tensor_ne(input, 3) != 1)
        return mm_error_set(MM_ERR_INVALID, "input is {%lld,%lld,%lld,%lld}, {%lld,%lld,B} expected (log-mel features)",
                            (long long)mm_tensor_ne(input, 0), (long long)mm_tensor_ne(input, 1),
                            (long long)mm_tensor_ne(input, 2), (long long)mm_tensor_ne(input, 3),
                            (long long)(2 * hp->n_ctx), (long long)hp->n_mels);
    mm_tensor *x = NULL;
    mm_status s = whisper_build_stem(e, g, input, &x);
    for (int il = 0; s == MM_OK && il < hp->n_layer; il++)
        s = whisper_build_layer(e, g, &x, il);
    if (s != MM_OK)
        return s;
    x = mm_layer_norm(g, x, mm_nn_weight(g, &e->c, "layer_norm.weight"), mm_nn_weight(g, &e->c, "layer_norm.bias"),
                      WHISPER_LN_EPS);
    if ((s = mm_graph_status(g)) != MM_OK)
        return s;
    mm_tensor_set_name(x, "whisper.encoder_out");
    *out = x;
    return MM_OK;
}

/* ---- ops table ------------------------------------------------------------- */

static void whisper_free(void *state)
{
    free(state);
}

/* Reads and checks the config; the runtime then builds the graph once
 * without data, which checks every weight name and shape. */
static mm_status whisper_load(const mm_component *c, void **state)
{
    *state = NULL;
    if (!c || !c->model)
        return mm_error_set(MM_ERR_INVALID, "no model given");
    whisper_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    e->c = *c;
    e->c.config_prefix = c->config_prefix ? c->config_prefix : "";
    mm_status s = whisper_load_hparams(&e->c, &e->hp);
    if (s != MM_OK) {
        free(e);
        return s;
    }
    *state = e;
    return MM_OK;
}

static const mm_encoder_ops whisper_encoder_ops = {
    .load = whisper_load,
    .free = whisper_free,
    .input_shape = whisper_input_shape,
    .build = whisper_build,
};

static const mm_plugin_model_type audio_types[] = {
    {"whisper", MM_ROLE_ENCODER},
    {NULL, 0},
};

static const mm_plugin audio_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "audio",
    .description = "Whisper-style audio encoder (log-mel -> hidden states)",
    .model_types = audio_types,
    .encoder = &whisper_encoder_ops,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &audio_plugin;
}
