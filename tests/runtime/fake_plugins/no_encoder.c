/* Declares an encoder role without an encoder table: refused as broken. */
#include "mm/plugin.h"

static const mm_plugin_model_type types[] = {{"vit", MM_ROLE_ENCODER}, {NULL, 0}};
static const mm_plugin plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "hollow",
    .model_types = types,
    .encoder = NULL,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &plugin;
}
