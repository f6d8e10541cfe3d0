/* A plugin built for a future ABI: the runtime must refuse it by number. */
#include "mm/plugin.h"

static const mm_plugin_model_type types[] = {{"whisper", MM_ROLE_ENCODER}, {NULL, 0}};
static const mm_plugin plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION + 41,
    .name = "future",
    .model_types = types,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &plugin;
}
