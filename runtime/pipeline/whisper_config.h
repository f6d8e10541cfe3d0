/* What Whisper's decoding needs from a model folder: special token ids,
 * languages, suppress lists (generation_config.json, else config.json and
 * the tokenizer). */
#ifndef MM_WHISPER_CONFIG_H
#define MM_WHISPER_CONFIG_H

#include "mm/tokenizer.h"

typedef struct whisper_lang {
    char code[8]; /* "en"    */
    int32_t id;   /* <|en|>  */
} whisper_lang;

typedef struct whisper_config {
    int32_t sot, eot, sot_prev, no_timestamps, no_speech, transcribe, translate, timestamp_begin;
    int32_t *suppress, n_suppress;
    int32_t *begin_suppress, n_begin_suppress;
    whisper_lang *langs;
    int32_t n_langs;
    int32_t max_initial_timestamp_index;
    bool multilingual;
} whisper_config;

mm_status whisper_config_load(const char *dir, const mm_tokenizer *tok, whisper_config *c);
void whisper_config_free(whisper_config *c);
/* The language token of a code ("en"), or -1. */
int32_t whisper_lang_id(const whisper_config *c, const char *code);
const char *whisper_lang_code(const whisper_config *c, int32_t id);

#endif
