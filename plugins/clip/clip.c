/* CLIP image/text embedder (HF CLIPModel): the config with its defaults,
 * the encoder layers both towers share, and the plugin's tables. The towers
 * are in clip_vision.c and clip_text.c.
 *
 * config.json keeps vision_config and text_config as differences from
 * CLIPVisionConfig's and CLIPTextConfig's defaults (transformers 4.40), so
 * an absent key means the default below, not an error. The runtime builds
 * both towers once without data right after load, so every weight name and
 * shape is checked before any compute. */
#include "clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config ------------------------------------------------------------------ */

typedef struct clip_default {
    const char *key;
    int64_t def;
    size_t offset; /* of the int64_t it fills */
} clip_default;

#define TOWER(field) offsetof(clip_tower, field)
#define MODEL(field) offsetof(clip_model, field)

static const clip_default text_dims[] = {
    {"hidden_size", 512, TOWER(n_embd)},
    {"num_attention_heads", 8, TOWER(n_head)},
    {"num_hidden_layers", 12, TOWER(n_layer)},
    {"intermediate_size", 2048, TOWER(n_ff)},
};
static const clip_default vision_dims[] = {
    {"hidden_size", 768, TOWER(n_embd)},
    {"num_attention_heads", 12, TOWER(n_head)},
    {"num_hidden_layers", 12, TOWER(n_layer)},
    {"intermediate_size", 3072, TOWER(n_ff)},
};
/* Read with the tower's prefix, stored in the model. */
static const clip_default text_model_dims[] = {
    {"vocab_size", 49408, MODEL(n_vocab)},
    {"max_position_embeddings", 77, MODEL(n_ctx)},
};
static const clip_default vision_model_dims[] = {
    {"image_size", 224, MODEL(image)},
    {"patch_size", 32, MODEL(patch)},
    {"num_channels", 3, MODEL(n_chan)},
};

static mm_status read_dims(const mm_component *c, const clip_default *d, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        mm_status s = mm_nn_config_dim_or(c, d[i].key, d[i].def, (int64_t *)((char *)base + d[i].offset));
        if (s != MM_OK)
            return s;
    }
    return MM_OK;
}

/* One tower's config under <config_prefix><which>_config. and weights under
 * <weight_prefix><which>_model.; `store` holds its two prefixes. */
static mm_status tower_load(const mm_component *top, const char *which, char (*store)[256], clip_tower *t,
                            const clip_default *dims, size_t n_dims)
{
    t->name = which;
    snprintf(store[0], sizeof store[0], "%s%s_config.", top->config_prefix, which);
    snprintf(store[1], sizeof store[1], "%s%s_model.", top->weight_prefix, which);
    t->c = (mm_component){.model = top->model, .config_prefix = store[0], .weight_prefix = store[1]};
    mm_status s = read_dims(&t->c, dims, n_dims, t);
    if (s != MM_OK)
        return s;
    char path[256];
    if (t->n_embd % t->n_head)
        return mm_error_set(MM_ERR_FORMAT, "config: %s %lld is not divisible by %lld heads",
                            mm_nn_config_key(&t->c, "hidden_size", path, sizeof path), (long long)t->n_embd,
                            (long long)t->n_head);
    double eps = 1e-5;
    if ((s = mm_config_float_or(t->c.model, mm_nn_config_key(&t->c, "layer_norm_eps", path, sizeof path), 1e-5,
                                &eps)) != MM_OK)
        return mm_error_wrap(s, "config");
    if (!(eps > 0 && eps < 1))
        return mm_error_set(MM_ERR_FORMAT, "config: %s = %g (must be in (0, 1))", path, eps);
    t->eps = (float)eps;
    const char *act = "quick_gelu";
    mm_nn_config_key(&t->c, "hidden_act", path, sizeof path);
    if ((mm_config_has(t->c.model, path) && (s = mm_config_string(t->c.model, path, &act)) != MM_OK) ||
        (s = mm_nn_gelu_kind(act, &t->act)) != MM_OK)
        return mm_error_wrap(s, "config: %s", path);
    return MM_OK;
}

/* logit_scale is a scalar weight; the runtime multiplies cosines by its
 * exp() on the host, so it is read once here. */
static mm_status read_logit_scale(clip_model *m)
{
    char name[300];
    snprintf(name, sizeof name, "%slogit_scale", m->c.weight_prefix);
    const mm_weight *w = mm_model_weight_find(m->c.model, name);
    if (!w)
        return mm_error_set(MM_ERR_FORMAT, "weight %s is missing from %s", name, mm_model_dir(m->c.model));
    int64_t n = 1;
    for (int i = 0; i < w->n_dims; i++)
        n *= w->shape[i];
    if (n != 1 || w->nbytes != mm_dtype_size(w->dtype))
        return mm_error_set(MM_ERR_FORMAT, "weight %s has %lld elements, a scalar expected", name, (long long)n);
    float v;
    switch (w->dtype) {
    case MM_DTYPE_F32: memcpy(&v, w->data, sizeof v); break;
    case MM_DTYPE_F16:
    case MM_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, w->data, sizeof h);
        v = w->dtype == MM_DTYPE_F16 ? mm_f16_to_f32(h) : mm_bf16_to_f32(h);
        break;
    }
    default: return mm_error_set(MM_ERR_FORMAT, "weight %s is %s, a float expected", name, mm_dtype_name(w->dtype));
    }
    /* CLIP clamps the learned scale at 100 while training; far beyond is not a checkpoint. */
    if (!(isfinite(v) && fabsf(v) < 20))
        return mm_error_set(MM_ERR_FORMAT, "weight %s = %g is not a plausible log scale", name, v);
    m->logit_scale = expf(v);
    return MM_OK;
}

static mm_status clip_load_config(clip_model *m)
{
    mm_status s = tower_load(&m->c, "vision", &m->prefixes[0], &m->vision, vision_dims,
                             sizeof vision_dims / sizeof vision_dims[0]);
    if (s == MM_OK)
        s = tower_load(&m->c, "text", &m->prefixes[2], &m->text, text_dims, sizeof text_dims / sizeof text_dims[0]);
    if (s == MM_OK)
        s = read_dims(&m->vision.c, vision_model_dims, sizeof vision_model_dims / sizeof vision_model_dims[0], m);
    if (s == MM_OK)
        s = read_dims(&m->text.c, text_model_dims, sizeof text_model_dims / sizeof text_model_dims[0], m);
    if (s == MM_OK)
        s = mm_nn_config_dim_or(&m->c, "projection_dim", 512, &m->n_proj);
    if (s != MM_OK)
        return s;
    char path[256];
    if (m->image % m->patch)
        return mm_error_set(MM_ERR_FORMAT, "config: %s %lld is not a multiple of patch_size %lld",
                            mm_nn_config_key(&m->vision.c, "image_size", path, sizeof path), (long long)m->image,
                            (long long)m->patch);
    /* Legacy checkpoints (openai's) say 2 here and pool at the largest id,
     * which <|endoftext|> is; others pool at the first eos_token_id. */
    mm_nn_config_key(&m->text.c, "eos_token_id", path, sizeof path);
    if ((s = mm_config_int_or(m->c.model, path, 49407, &m->eos)) != MM_OK)
        return mm_error_wrap(s, "config");
    if (m->eos < 0 || m->eos >= m->n_vocab)
        return mm_error_set(MM_ERR_FORMAT, "config: %s = %lld is not a token id (vocab_size %lld)", path,
                            (long long)m->eos, (long long)m->n_vocab);
    return read_logit_scale(m);
}

/* ---- the layers both towers share ---------------------------------------------- */

mm_status clip_build_layers(const clip_tower *t, mm_graph *g, mm_tensor **x, bool causal, mm_tensor *mask)
{
    const mm_component *c = &t->c;
    for (int64_t il = 0; il < t->n_layer; il++) {
        int l = (int)il;
        /* intermediate_size is the one width only the config states. */
        mm_tensor *fc1 = mm_nn_weight(g, c, "encoder.layers.%d.mlp.fc1.weight", l);
        mm_status s = mm_graph_status(g);
        if (s != MM_OK || (s = mm_nn_expect_shape(fc1, t->n_embd, t->n_ff, 1, 1)) != MM_OK)
            return s;
        mm_nn_block blk = {
            .eps = t->eps,
            .ln1 = {mm_nn_weight(g, c, "encoder.layers.%d.layer_norm1.weight", l),
                    mm_nn_weight(g, c, "encoder.layers.%d.layer_norm1.bias", l)},
            /* CLIP scales q by head_dim^-0.5; the same as scaling the scores. */
            .attn = {
                .q_w = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.q_proj.weight", l),
                .q_b = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.q_proj.bias", l),
                .k_w = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.k_proj.weight", l),
                .k_b = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.k_proj.bias", l),
                .v_w = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.v_proj.weight", l),
                .v_b = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.v_proj.bias", l),
                .o_w = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.out_proj.weight", l),
                .o_b = mm_nn_weight(g, c, "encoder.layers.%d.self_attn.out_proj.bias", l),
                .n_head = (int32_t)t->n_head,
                .scale = 1.0f / sqrtf((float)(t->n_embd / t->n_head)),
                .causal = causal,
                .mask = mask,
            },
            .ln2 = {mm_nn_weight(g, c, "encoder.layers.%d.layer_norm2.weight", l),
                    mm_nn_weight(g, c, "encoder.layers.%d.layer_norm2.bias", l)},
            .fc1_w = fc1,
            .fc1_b = mm_nn_weight(g, c, "encoder.layers.%d.mlp.fc1.bias", l),
            .fc2_w = mm_nn_weight(g, c, "encoder.layers.%d.mlp.fc2.weight", l),
            .fc2_b = mm_nn_weight(g, c, "encoder.layers.%d.mlp.fc2.bias", l),
            .act = t->act,
        };
        *x = mm_nn_block_build(g, *x, NULL, &blk);
        if ((s = mm_graph_status(g)) != MM_OK)
            return s;
    }
    return MM_OK;
}

/* ---- ops table ------------------------------------------------------------------- */

static void clip_free(void *state)
{
    free(state);
}

static mm_status clip_load(const mm_component *c, void **state)
{
    *state = NULL;
    if (!c || !c->model)
        return mm_error_set(MM_ERR_INVALID, "no model given");
    clip_model *m = calloc(1, sizeof *m);
    if (!m)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    m->c = *c;
    m->c.config_prefix = c->config_prefix ? c->config_prefix : "";
    m->c.weight_prefix = c->weight_prefix ? c->weight_prefix : "";
    mm_status s = clip_load_config(m);
    if (s != MM_OK)
        free(m);
    else
        *state = m;
    return s;
}

static mm_status clip_dims(const void *state, mm_embedder_dims *out)
{
    const clip_model *m = state;
    *out = (mm_embedder_dims){
        .n_embd = m->n_proj, .n_ctx = m->n_ctx, .n_vocab = m->n_vocab, .logit_scale = m->logit_scale};
    return MM_OK;
}

static mm_status clip_image_input_shape(const void *state, int32_t batch, mm_shape *out)
{
    const clip_model *m = state;
    if (batch < 1)
        return mm_error_set(MM_ERR_INVALID, "batch of %d", batch);
    *out = (mm_shape){.n_dims = 4, .ne = {m->image, m->image, m->n_chan, batch}};
    return MM_OK;
}

static const mm_embedder_ops clip_embedder_ops = {
    .load = clip_load,
    .free = clip_free,
    .dims = clip_dims,
    .image_input_shape = clip_image_input_shape,
    .build_image = clip_build_image,
    .text_pool = clip_text_pool,
    .build_text = clip_build_text,
};

static const mm_plugin_model_type clip_types[] = {
    {"clip", MM_ROLE_EMBEDDER},
    {NULL, 0},
};

static const mm_plugin clip_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "clip",
    .description = "CLIP image/text embedder (vision and text towers, projections, logit_scale)",
    .model_types = clip_types,
    .embedder = &clip_embedder_ops,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &clip_plugin;
}
