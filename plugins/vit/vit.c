/* ViT image encoder (HF ViTModel without pooler): pixel values {S, S, C, B}
 * -> patch embedding + [CLS] + positions -> pre-LN layers -> final layernorm
 * {D, 1 + (S/P)^2, B}.
 *
 * In a vision-encoder-decoder folder the ViT config sits under "encoder."
 * and its weights under "encoder."; the runtime passes both prefixes (and
 * builds the graph once without data right after load, so every weight name
 * and shape is checked before any compute). */
#include "mm/nn.h"
#include "mm/plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct vit_hparams {
    int64_t n_embd;    /* hidden_size       */
    int64_t n_head;    /* num_attention_heads */
    int64_t n_layer;   /* num_hidden_layers */
    int64_t n_ff;      /* intermediate_size */
    int64_t image;     /* image_size        */
    int64_t patch;     /* patch_size        */
    int64_t n_chan;    /* num_channels      */
    float eps;         /* layer_norm_eps    */
    bool qkv_bias;
    mm_gelu_kind act;  /* hidden_act        */
} vit_hparams;

typedef struct vit_encoder {
    mm_component c; /* the runtime keeps it (and the model) alive until free */
    vit_hparams hp;
} vit_encoder;

/* ---- config ---------------------------------------------------------------- */

static mm_status vit_load_hparams(const mm_component *c, vit_hparams *hp)
{
    static const struct {
        const char *key;
        size_t offset;
    } ints[] = {
        {"hidden_size", offsetof(vit_hparams, n_embd)},     {"num_attention_heads", offsetof(vit_hparams, n_head)},
        {"num_hidden_layers", offsetof(vit_hparams, n_layer)}, {"intermediate_size", offsetof(vit_hparams, n_ff)},
        {"image_size", offsetof(vit_hparams, image)},       {"patch_size", offsetof(vit_hparams, patch)},
        {"num_channels", offsetof(vit_hparams, n_chan)},
    };
    char path[256];
    mm_status s;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((s = mm_nn_config_dim(c, ints[i].key, (int64_t *)((char *)hp + ints[i].offset))) != MM_OK)
            return s;
    if (hp->n_embd % hp->n_head)
        return mm_error_set(MM_ERR_FORMAT, "config: hidden_size %lld is not divisible by %lld heads",
                            (long long)hp->n_embd, (long long)hp->n_head);
    if (hp->image % hp->patch)
        return mm_error_set(MM_ERR_FORMAT, "config: image_size %lld is not a multiple of patch_size %lld",
                            (long long)hp->image, (long long)hp->patch);
    double eps = 0;
    const char *act = NULL;
    /* qkv_bias arrived in later transformers versions; older configs mean true. */
    hp->qkv_bias = true;
    if ((s = mm_config_float(c->model, mm_nn_config_key(c, "layer_norm_eps", path, sizeof path), &eps)) != MM_OK ||
        (s = mm_config_string(c->model, mm_nn_config_key(c, "hidden_act", path, sizeof path), &act)) != MM_OK ||
        (s = mm_nn_gelu_kind(act, &hp->act)) != MM_OK ||
        (mm_config_has(c->model, mm_nn_config_key(c, "qkv_bias", path, sizeof path)) &&
         (s = mm_config_bool(c->model, path, &hp->qkv_bias)) != MM_OK))
        return mm_error_wrap(s, "config");
    if (!(eps > 0 && eps < 1))
        return mm_error_set(MM_ERR_FORMAT, "config: layer_norm_eps = %g (must be in (0, 1))", eps);
    hp->eps = (float)eps;
    return MM_OK;
}

/* ---- graph ------------------------------------------------------------------- */

static int64_t vit_n_patches(const vit_hparams *hp)
{
    return (hp->image / hp->patch) * (hp->image / hp->patch);
}

/* cat(cls, conv16(pixels).flatten(2).T) + position_embeddings:
 * encoder_hidden_states[0]. */
static mm_status vit_build_embeddings(const vit_encoder *e, mm_graph *g, mm_tensor *x, mm_tensor **out)
{
    const vit_hparams *hp = &e->hp;
    const mm_component *c = &e->c;
    mm_tensor *patch_w = mm_nn_weight(g, c, "embeddings.patch_embeddings.projection.weight");
    mm_tensor *patch_b = mm_nn_weight(g, c, "embeddings.patch_embeddings.projection.bias");
    mm_tensor *cls = mm_nn_weight(g, c, "embeddings.cls_token");
    mm_tensor *pos = mm_nn_weight(g, c, "embeddings.position_embeddings");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(patch_w, hp->patch, hp->patch, hp->n_chan, hp->n_embd)) != MM_OK ||
        (s = mm_nn_expect_shape(cls, hp->n_embd, 1, 1, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(pos, hp->n_embd, 1 + vit_n_patches(hp), 1, 1)) != MM_OK)
        return s;
    x = mm_patch_embed(g, x, patch_w, patch_b); /* {D, N, B} */
    /* The graph API has no repeat: give every batch item its [CLS] row by
     * concatenating along the batch dimension. */
    mm_tensor *cls_b = cls;
    for (int64_t i = 1; i < mm_tensor_ne(x, 2); i++)
        cls_b = mm_concat(g, cls_b, cls, 2);
    *out = mm_add(g, mm_concat(g, cls_b, x, 1), pos);
    return MM_OK;
}

/* Pre-LN layer: x + attn(layernorm_before(x)), then x + mlp(layernorm_after(x)). */
static mm_status vit_build_layer(const vit_encoder *e, mm_graph *g, mm_tensor **x, int il)
{
    const vit_hparams *hp = &e->hp;
    const mm_component *c = &e->c;
    /* The linear helpers check inputs against weights; intermediate_size is
     * the one width only the config states. */
    mm_tensor *ff_w = mm_nn_weight(g, c, "encoder.layer.%d.intermediate.dense.weight", il);
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(ff_w, hp->n_embd, hp->n_ff, 1, 1)) != MM_OK)
        return s;
    mm_nn_block blk = {
        .eps = hp->eps,
        .ln1 = {mm_nn_weight(g, c, "encoder.layer.%d.layernorm_before.weight", il),
                mm_nn_weight(g, c, "encoder.layer.%d.layernorm_before.bias", il)},
        /* ViT divides the scores by sqrt(head_dim). */
        .attn = {
            .q_w = mm_nn_weight(g, c, "encoder.layer.%d.attention.attention.query.weight", il),
            .k_w = mm_nn_weight(g, c, "encoder.layer.%d.attention.attention.key.weight", il),
            .v_w = mm_nn_weight(g, c, "encoder.layer.%d.attention.attention.value.weight", il),
            .o_w = mm_nn_weight(g, c, "encoder.layer.%d.attention.output.dense.weight", il),
            .o_b = mm_nn_weight(g, c, "encoder.layer.%d.attention.output.dense.bias", il),
            .n_head = (int32_t)hp->n_head,
            .scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head)),
        },
        .ln2 = {mm_nn_weight(g, c, "encoder.layer.%d.layernorm_after.weight", il),
                mm_nn_weight(g, c, "encoder.layer.%d.layernorm_after.bias", il)},
        .fc1_w = ff_w,
        .fc1_b = mm_nn_weight(g, c, "encoder.layer.%d.intermediate.dense.bias", il),
        .fc2_w = mm_nn_weight(g, c, "encoder.layer.%d.output.dense.weight", il),
        .fc2_b = mm_nn_weight(g, c, "encoder.layer.%d.output.dense.bias", il),
        .act = hp->act,
    };
    if (hp->qkv_bias) {
        blk.attn.q_b = mm_nn_weight(g, c, "encoder.layer.%d.attention.attention.query.bias", il);
        blk.attn.k_b = mm_nn_weight(g, c, "encoder.layer.%d.attention.attention.key.bias", il);
        blk.attn.v_b = mm_nn_weight(g, c, "encoder.layer.%d.attention.attention.value.bias", il);
    }
    *x = mm_nn_block_build(g, *x, NULL, &blk);
    return mm_graph_status(g);
}

static mm_status vit_input_shape(const void *state, int32_t batch, mm_shape *out)
{
    const vit_hparams *hp = &((const vit_encoder *)state)->hp;
    if (batch < 1)
        return mm_error_set(MM_ERR_INVALID, "batch of %d", batch);
    *out = (mm_shape){.n_dims = 4, .ne = {hp->image, hp->image, hp->n_chan, batch}};
    return MM_OK;
}

static mm_status vit_build(const void *state, mm_graph *g, mm_tensor *input, mm_tensor **out)
{
    const vit_encoder *e = state;
    const vit_hparams *hp = &e->hp;
    *out = NULL;
    if (!g || !input)
        return mm_error_set(MM_ERR_INVALID, "NULL graph or input");
    /* Positions are learned for exactly image_size (no interpolation). */
    if (mm_tensor_ne(input, 0) != hp->image || mm_tensor_ne(input, 1) != hp->image ||
        mm_tensor_ne(input, 2) != hp->n_chan)
        return mm_error_set(MM_ERR_INVALID, "input is {%lld,%lld,%lld,%lld}, {%lld,%lld,%lld,B} expected (pixel values)",
                            (long long)mm_tensor_ne(input, 0), (long long)mm_tensor_ne(input, 1),
                            (long long)mm_tensor_ne(input, 2), (long long)mm_tensor_ne(input, 3),
                            (long long)hp->image, (long long)hp->image, (long long)hp->n_chan);
    mm_tensor *x = NULL;
    mm_status s = vit_build_embeddings(e, g, input, &x);
    for (int il = 0; s == MM_OK && il < hp->n_layer; il++)
        s = vit_build_layer(e, g, &x, il);
    if (s == MM_OK) {
        x = mm_layer_norm(g, x, mm_nn_weight(g, &e->c, "layernorm.weight"), mm_nn_weight(g, &e->c, "layernorm.bias"),
                          hp->eps);
        s = mm_graph_status(g);
    }
    if (s != MM_OK)
        return s;
    mm_tensor_set_name(x, "vit.encoder_out");
    *out = x;
    return MM_OK;
}

/* ---- ops table ----------------------------------------------------------------- */

static void vit_free(void *state)
{
    free(state);
}

/* Reads and checks the config; the runtime then builds the graph once
 * without data, which checks every weight name and shape. */
static mm_status vit_load(const mm_component *c, void **state)
{
    *state = NULL;
    if (!c || !c->model)
        return mm_error_set(MM_ERR_INVALID, "no model given");
    vit_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    e->c = *c;
    e->c.config_prefix = c->config_prefix ? c->config_prefix : "";
    mm_status s = vit_load_hparams(&e->c, &e->hp);
    if (s != MM_OK)
        free(e);
    else
        *state = e;
    return s;
}

static const mm_encoder_ops vit_encoder_ops = {
    .load = vit_load,
    .free = vit_free,
    .input_shape = vit_input_shape,
    .build = vit_build,
};

static const mm_plugin_model_type vit_types[] = {
    {"vit", MM_ROLE_ENCODER},
    {NULL, 0},
};

static const mm_plugin vit_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "vit",
    .description = "ViT image encoder (pixel values -> hidden states)",
    .model_types = vit_types,
    .encoder = &vit_encoder_ops,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &vit_plugin;
}
