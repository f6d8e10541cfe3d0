/* Text decoder with self- and cross-attention (Whisper decoder, GPT-2 with
 * cross-attention). The decoding graphs arrive with transcription and
 * captioning; today the plugin declares the model types it will serve. */
#include "mm/plugin.h"

static const mm_plugin_model_type textdec_types[] = {
    {"whisper", MM_ROLE_DECODER},
    {"gpt2", MM_ROLE_DECODER},
    {NULL, 0},
};

static const mm_plugin textdec_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "textdec",
    .description = "text decoder with cross-attention (Whisper, GPT-2)",
    .model_types = textdec_types,
    .encoder = NULL,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &textdec_plugin;
}
