/* Claims the embedder role for clip without an embedder table: refused. */
#include "mm/plugin.h"

static const mm_plugin_model_type types[] = {{"clip", MM_ROLE_EMBEDDER}, {NULL, 0}};
static const mm_plugin plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "claims_embedder",
    .model_types = types,
    .embedder = NULL,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &plugin;
}
