#include "mm/plugin.h"
static const mm_plugin_model_type types[] = {{NULL, 0}};
static const mm_plugin plugin = {.abi_version = MM_PLUGIN_ABI_VERSION, .name = "vit", .model_types = types};
MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void) { return &plugin; }
