/* Has a complete decoder table but declares the decoder role for no model
 * type: its roles and tables disagree, so it is refused too. */
#include "mm/plugin.h"

static mm_status load(const mm_component *c, void **state)
{
    (void)c;
    *state = NULL;
    return MM_OK;
}
static void release(void *state)
{
    (void)state;
}
static mm_status dims(const void *state, mm_decoder_dims *out)
{
    (void)state;
    *out = (mm_decoder_dims){0};
    return MM_OK;
}
static mm_status buffer_shape(const void *state, mm_decoder_buffer kind, int32_t i, int32_t batch, int64_t n_pos,
                              mm_shape *out)
{
    (void)state, (void)kind, (void)i, (void)batch, (void)n_pos;
    *out = (mm_shape){0};
    return MM_OK;
}
static mm_status cross_kv(const void *state, mm_graph *g, mm_tensor *enc, mm_tensor *const *bufs)
{
    (void)state, (void)g, (void)enc, (void)bufs;
    return MM_OK;
}
static mm_status step(const void *state, mm_graph *g, const mm_decoder_step_inputs *s, mm_tensor **logits)
{
    (void)state, (void)g, (void)s;
    *logits = NULL;
    return MM_OK;
}

static const mm_decoder_ops decoder = {load, release, dims, buffer_shape, cross_kv, step};
static const mm_plugin_model_type types[] = {{NULL, 0}};
static const mm_plugin plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "undeclared",
    .model_types = types,
    .decoder = &decoder,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &plugin;
}
