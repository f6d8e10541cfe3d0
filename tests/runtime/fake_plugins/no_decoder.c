/* Claims the decoder role for gpt2 without a decoder table (what textdec
 * did under ABI 1): refused, so no lookup ever names it for a role it cannot
 * run. */
#include "mm/plugin.h"

static const mm_plugin_model_type types[] = {{"gpt2", MM_ROLE_DECODER}, {NULL, 0}};
static const mm_plugin plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "claims_decoder",
    .model_types = types,
    .decoder = NULL,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &plugin;
}
