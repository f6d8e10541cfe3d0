/* CLIP image/text embedder. The model code arrives with the embeddings
 * pipeline; today the plugin declares what it will run so `mmrun info` and
 * model routing can see it. */
#include "mm/plugin.h"

static const mm_plugin_model_type clip_types[] = {
    {"clip", MM_ROLE_EMBEDDER},
    {NULL, 0},
};

static const mm_plugin clip_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "clip",
    .description = "CLIP-style joint image/text embeddings",
    .model_types = clip_types,
    .encoder = NULL,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &clip_plugin;
}
