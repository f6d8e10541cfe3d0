/* CLIP image/text embedder. Its towers arrive with the embeddings pipeline
 * (mm_embedder_ops, ABI v2); until then the plugin declares no model type,
 * since the runtime must never route a folder to a role it cannot run. */
#include "mm/plugin.h"

static const mm_plugin_model_type clip_types[] = {
    {NULL, 0},
};

static const mm_plugin clip_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "clip",
    .description = "CLIP-style joint image/text embeddings (towers not yet implemented)",
    .model_types = clip_types,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &clip_plugin;
}
