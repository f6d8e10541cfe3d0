/* Text decoder with self- and cross-attention (Whisper decoder, GPT-2 with
 * cross-attention). Its graphs arrive with transcription and captioning
 * (mm_decoder_ops, ABI v2); until then the plugin declares no model type,
 * since the runtime must never route a folder to a role it cannot run. */
#include "mm/plugin.h"

static const mm_plugin_model_type textdec_types[] = {
    {NULL, 0},
};

static const mm_plugin textdec_plugin = {
    .abi_version = MM_PLUGIN_ABI_VERSION,
    .name = "textdec",
    .description = "text decoder with cross-attention (Whisper, GPT-2; not yet implemented)",
    .model_types = textdec_types,
};

MM_PLUGIN_EXPORT const mm_plugin *mm_plugin_entry(void)
{
    return &textdec_plugin;
}
