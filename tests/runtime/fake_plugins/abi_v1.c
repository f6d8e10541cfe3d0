/* A plugin built against plugin ABI 1 (the table as mm/plugin.h declared it
 * then: an encoder table only). The runtime must refuse it by number, before
 * reading anything else of the table. */
#include "mm/plugin.h"

typedef struct v1_encoder_ops {
    mm_status (*load)(const mm_component *c, void **state);
    void (*free)(void *state);
    mm_status (*input_shape)(const void *state, int32_t batch, mm_shape *out);
    mm_status (*build)(const void *state, mm_graph *g, mm_tensor *input, mm_tensor **out);
} v1_encoder_ops;

typedef struct v1_plugin {
    uint32_t abi_version;
    const char *name;
    const char *description;
    const mm_plugin_model_type *model_types;
    const v1_encoder_ops *encoder;
} v1_plugin;

static const mm_plugin_model_type types[] = {{"whisper", MM_ROLE_ENCODER}, {NULL, 0}};
static const v1_encoder_ops encoder = {0};
static const v1_plugin plugin = {
    .abi_version = 1,
    .name = "old",
    .description = "built for ABI 1",
    .model_types = types,
    .encoder = &encoder,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return (const mm_plugin *)(const void *)&plugin;
}
