/* Whisper's decoding configuration (whisper_config.h). Special tokens come
 * from the tokenizer by spelling, so any Whisper folder works;
 * generation_config.json (written by transformers for every Whisper
 * checkpoint) adds the suppress lists and the language table, with
 * config.json's copies of the lists for older folders. */
#include "whisper_config.h"
#include "model_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mm_status special_id(const mm_tokenizer *tok, const char *spelling, bool required, int32_t *out)
{
    *out = mm_tokenizer_token_id(tok, spelling);
    if (*out < 0 && required)
        return mm_error_set(MM_ERR_FORMAT, "the tokenizer has no %s token: not a Whisper tokenizer", spelling);
    return MM_OK;
}

/* An array of ids at key of obj into *ids (malloc'd); absent: untouched. */
static mm_status id_list(json_object *obj, const char *key, const char *file, int32_t **ids, int32_t *n)
{
    json_object *a;
    if (!obj || !json_object_object_get_ex(obj, key, &a) || json_object_is_type(a, json_type_null))
        return MM_OK;
    if (!json_object_is_type(a, json_type_array))
        return mm_error_set(MM_ERR_FORMAT, "%s: %s is not a list of token ids", file, key);
    size_t len = json_object_array_length(a);
    int32_t *v = malloc((len ? len : 1) * sizeof *v);
    if (!v)
        return mm_error_set(MM_ERR_NOMEM, "whisper: out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (!json_object_is_type(e, json_type_int)) {
            free(v);
            return mm_error_set(MM_ERR_FORMAT, "%s: %s[%zu] is not a token id", file, key, i);
        }
        v[i] = (int32_t)json_object_get_int(e);
    }
    free(*ids);
    *ids = v;
    *n = (int32_t)len;
    return MM_OK;
}

/* Language tokens: contiguous after <|startoftranscript|>, spelled <|xx|>. */
static mm_status languages(const mm_tokenizer *tok, whisper_config *c)
{
    int32_t n = 0;
    for (int32_t id = c->sot + 1; id < mm_tokenizer_n_vocab(tok); id++) {
        const char *t = mm_tokenizer_token(tok, id);
        size_t len = t ? strlen(t) : 0;
        if (len < 5 || len > 4 + 7 || strncmp(t, "<|", 2) || strcmp(t + len - 2, "|>") || id == c->translate ||
            id == c->transcribe)
            break;
        n++;
    }
    c->langs = calloc(n ? (size_t)n : 1, sizeof *c->langs);
    if (!c->langs)
        return mm_error_set(MM_ERR_NOMEM, "whisper: out of memory");
    for (int32_t i = 0; i < n; i++) {
        const char *t = mm_tokenizer_token(tok, c->sot + 1 + i);
        size_t len = strlen(t) - 4;
        memcpy(c->langs[i].code, t + 2, len);
        c->langs[i].code[len] = 0;
        c->langs[i].id = c->sot + 1 + i;
    }
    c->n_langs = n;
    return MM_OK;
}

mm_status whisper_config_load(const char *dir, const mm_tokenizer *tok, whisper_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_initial_timestamp_index = 50; /* openai-whisper's max_initial_timestamp of 1 s */
    mm_status s;
    if ((s = special_id(tok, "<|startoftranscript|>", true, &c->sot)) != MM_OK ||
        (s = special_id(tok, "<|endoftext|>", true, &c->eot)) != MM_OK ||
        (s = special_id(tok, "<|transcribe|>", true, &c->transcribe)) != MM_OK ||
        (s = special_id(tok, "<|translate|>", true, &c->translate)) != MM_OK ||
        (s = special_id(tok, "<|notimestamps|>", true, &c->no_timestamps)) != MM_OK ||
        (s = special_id(tok, "<|startofprev|>", true, &c->sot_prev)) != MM_OK)
        return s;
    special_id(tok, "<|nospeech|>", false, &c->no_speech); /* v3 */
    if (c->no_speech < 0)
        special_id(tok, "<|nocaptions|>", false, &c->no_speech);
    c->timestamp_begin = mm_tokenizer_timestamp_begin(tok);
    if ((s = languages(tok, c)) != MM_OK)
        return s;
    c->multilingual = c->n_langs > 1;

    char path[4096];
    json_object *gen = NULL, *cfg = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (mm_json_read_file(path, &cfg) != MM_OK)
        mm_error_clear(); /* the model loader has reported on config.json already */
    s = id_list(cfg, "suppress_tokens", "config.json", &c->suppress, &c->n_suppress);
    if (s == MM_OK)
        s = id_list(cfg, "begin_suppress_tokens", "config.json", &c->begin_suppress, &c->n_begin_suppress);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        if (s == MM_OK)
            s = mm_json_read_file(path, &gen);
    }
    if (s == MM_OK)
        s = id_list(gen, "suppress_tokens", "generation_config.json", &c->suppress, &c->n_suppress);
    if (s == MM_OK)
        s = id_list(gen, "begin_suppress_tokens", "generation_config.json", &c->begin_suppress, &c->n_begin_suppress);
    json_object *v;
    if (s == MM_OK && gen && json_object_object_get_ex(gen, "max_initial_timestamp_index", &v) &&
        json_object_is_type(v, json_type_int))
        c->max_initial_timestamp_index = json_object_get_int(v);
    if (s == MM_OK && gen && json_object_object_get_ex(gen, "is_multilingual", &v) &&
        json_object_is_type(v, json_type_boolean))
        c->multilingual = json_object_get_boolean(v);
    json_object_put(gen);
    json_object_put(cfg);
    if (s != MM_OK)
        whisper_config_free(c);
    return s;
}

void whisper_config_free(whisper_config *c)
{
    free(c->suppress);
    free(c->begin_suppress);
    free(c->langs);
    memset(c, 0, sizeof *c);
}

int32_t whisper_lang_id(const whisper_config *c, const char *code)
{
    for (int32_t i = 0; i < c->n_langs; i++)
        if (strcmp(c->langs[i].code, code) == 0)
            return c->langs[i].id;
    return -1;
}

const char *whisper_lang_code(const whisper_config *c, int32_t id)
{
    for (int32_t i = 0; i < c->n_langs; i++)
        if (c->langs[i].id == id)
            return c->langs[i].code;
    return NULL;
}
