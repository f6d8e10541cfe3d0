/* Captioning (mm/caption.h): encoder over the batch, one decoder of
 * images x beams sequences (kept while the shape stays), the shared
 * decoding loop, the tokenizer. Generation defaults follow transformers:
 * generation_config.json when the folder has one, else config.json with its
 * decoder section filling what the top level leaves unset. */
#include "mm/caption.h"
#include "mm/tokenizer.h"
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mm_captioner {
    mm_runtime *rt;
    mm_model *model;
    mm_encoder *enc;
    mm_tokenizer *tok;
    mm_decoder *dec;
    int32_t dec_seq, dec_ctx;
    mm_caption_params defaults;
    int32_t start_id, eos_id;
};

void mm_caption_clear(mm_caption *c)
{
    if (!c)
        return;
    free(c->text);
    free(c->tokens);
    memset(c, 0, sizeof *c);
}

/* ---- generation defaults ------------------------------------------------------- */

static json_object *get(json_object *const *objs, int n, const char *key)
{
    json_object *v;
    for (int i = 0; i < n; i++)
        if (objs[i] && json_object_object_get_ex(objs[i], key, &v) && !json_object_is_type(v, json_type_null))
            return v;
    return NULL;
}

static int64_t get_int(json_object *const *objs, int n, const char *key, int64_t def)
{
    json_object *v = get(objs, n, key);
    if (v && json_object_is_type(v, json_type_array)) /* eos_token_id may be a list: its first */
        v = json_object_array_length(v) ? json_object_array_get_idx(v, 0) : NULL;
    return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : def;
}

static double get_num(json_object *const *objs, int n, const char *key, double def)
{
    json_object *v = get(objs, n, key);
    return v && (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))
               ? json_object_get_double(v)
               : def;
}

static mm_status load_defaults(mm_captioner *c, const char *dir)
{
    char path[4096];
    json_object *gen = NULL, *cfg = c->model->config, *dec = NULL;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        mm_status s = mm_json_read_file(path, &gen);
        if (s != MM_OK)
            return s;
    }
    json_object_object_get_ex(cfg, "decoder", &dec);
    /* generation_config.json alone when present (transformers then ignores
     * config.json's copies), else the top level, then the decoder's */
    json_object *objs[2] = {gen ? gen : cfg, gen ? NULL : dec};
    json_object *ids[3] = {gen, cfg, dec};
    mm_caption_params *p = &c->defaults;
    int64_t max_length = get_int(objs, 2, "max_length", 20);
    p->max_new_tokens = (int32_t)get_int(objs, 2, "max_new_tokens", max_length - 1);
    p->n_beams = (int32_t)get_int(objs, 2, "num_beams", 1);
    p->length_penalty = (float)get_num(objs, 2, "length_penalty", 1.0);
    json_object *es = get(objs, 2, "early_stopping");
    p->early_stopping = es && json_object_is_type(es, json_type_boolean) && json_object_get_boolean(es)
                            ? MM_EARLY_STOPPING_ON
                        : es && json_object_is_type(es, json_type_string) && !strcmp(json_object_get_string(es), "never")
                            ? MM_EARLY_STOPPING_NEVER
                            : MM_EARLY_STOPPING_HEURISTIC;
    p->no_repeat_ngram_size = (int32_t)get_int(objs, 2, "no_repeat_ngram_size", 0);
    p->repetition_penalty = (float)get_num(objs, 2, "repetition_penalty", 1.0);
    json_object *sample = get(objs, 2, "do_sample");
    bool do_sample = sample && json_object_is_type(sample, json_type_boolean) && json_object_get_boolean(sample);
    p->sampling = (mm_sampling_params){.temperature = do_sample ? (float)get_num(objs, 2, "temperature", 1.0) : 0.0f,
                                       .top_k = (int32_t)get_int(objs, 2, "top_k", 50),
                                       .top_p = (float)get_num(objs, 2, "top_p", 1.0)};
    c->start_id = (int32_t)get_int(ids, 3, "decoder_start_token_id", get_int(ids, 3, "bos_token_id", -1));
    c->eos_id = (int32_t)get_int(ids, 3, "eos_token_id", -1);
    json_object_put(gen);
    if (p->n_beams < 1 || p->n_beams > 64 || p->max_new_tokens < 1 || c->start_id < 0 || c->eos_id < 0)
        return mm_error_set(MM_ERR_FORMAT,
                            "%s: generation settings: %d beams, %d new tokens, start token %d, end token %d", dir,
                            p->n_beams, p->max_new_tokens, c->start_id, c->eos_id);
    return MM_OK;
}

/* ---- lifetime ------------------------------------------------------------------- */

mm_status mm_captioner_init(mm_runtime *rt, const char *model_dir, mm_captioner **out)
{
    *out = NULL;
    mm_captioner *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(MM_ERR_NOMEM, "captioner: out of memory");
    c->rt = rt;
    mm_status s = mm_model_load(model_dir, &c->model);
    if (s == MM_OK && strcmp(mm_model_type(c->model), "vision-encoder-decoder") != 0)
        s = mm_error_set(MM_ERR_UNSUPPORTED, "%s is a %s model, not an image captioner (model_type \"vision-encoder-decoder\")",
                         model_dir, mm_model_type(c->model));
    if (s == MM_OK)
        s = load_defaults(c, model_dir);
    if (s == MM_OK)
        s = mm_tokenizer_load(model_dir, &c->tok);
    if (s == MM_OK)
        s = mm_encoder_init(rt, c->model, &c->enc);
    /* a one-sequence decoder now: a broken decoder fails at load, not at the first image */
    if (s == MM_OK) {
        c->dec_seq = 1;
        c->dec_ctx = 1 + c->defaults.max_new_tokens;
        s = mm_decoder_init(rt, c->model, &(mm_decoder_params){.n_seq = 1, .n_ctx = c->dec_ctx}, &c->dec);
    }
    if (s != MM_OK) {
        mm_captioner_free(c);
        return s;
    }
    *out = c;
    return MM_OK;
}

void mm_captioner_free(mm_captioner *c)
{
    if (!c)
        return;
    mm_decoder_free(c->dec);
    mm_encoder_free(c->enc);
    mm_tokenizer_free(c->tok);
    mm_model_free(c->model);
    free(c);
}

mm_caption_params mm_captioner_default_params(const mm_captioner *c)
{
    return c->defaults;
}

mm_status mm_captioner_image_shape(const mm_captioner *c, mm_shape *out)
{
    mm_status s = mm_encoder_input_shape(c->enc, 1, out);
    if (s == MM_OK)
        out->n_dims = 3;
    return s;
}

/* ---- captioning ----------------------------------------------------------------- */

static mm_status decoder_for(mm_captioner *c, int32_t n_seq, int32_t n_ctx)
{
    if (c->dec && c->dec_seq == n_seq && c->dec_ctx >= n_ctx)
        return MM_OK;
    mm_decoder_free(c->dec);
    c->dec = NULL;
    mm_status s = mm_decoder_init(c->rt, c->model, &(mm_decoder_params){.n_seq = n_seq, .n_ctx = n_ctx}, &c->dec);
    c->dec_seq = s == MM_OK ? n_seq : 0;
    c->dec_ctx = n_ctx;
    return s;
}

static mm_status caption_text(const mm_captioner *c, const int32_t *ids, int32_t n, char **out)
{
    uint32_t flags = MM_DETOKENIZE_SKIP_SPECIAL | (mm_tokenizer_cleanup_default(c->tok) ? MM_DETOKENIZE_CLEANUP : 0);
    char *text = NULL;
    mm_status s = mm_tokenizer_decode_alloc(c->tok, ids, n, flags, &text);
    if (s != MM_OK)
        return s;
    size_t len = strlen(text);
    size_t a = 0, b = len;
    while (a < b && (text[a] == ' ' || text[a] == '\n'))
        a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\n'))
        b--;
    memmove(text, text + a, b - a);
    text[b - a] = '\0';
    *out = text;
    return MM_OK;
}

mm_status mm_caption_images(mm_captioner *c, const float *pixels, int32_t n, const mm_caption_params *p,
                            mm_caption *out)
{
    if (!c || !pixels || !out || n < 1)
        return mm_error_set(MM_ERR_INVALID, "caption: no images");
    for (int32_t i = 0; i < n; i++)
        memset(&out[i], 0, sizeof out[i]);
    mm_caption_params cp = p ? *p : c->defaults;
    if (cp.n_beams < 1 || cp.max_new_tokens < 1)
        return mm_error_set(MM_ERR_INVALID, "caption: %d beams, %d new tokens", cp.n_beams, cp.max_new_tokens);
    float *states = NULL;
    mm_shape shape;
    mm_status s = mm_encoder_run(c->enc, pixels, n, &states, &shape);
    /* A smaller batch (the last of a folder) runs on the decoder already made
     * for a bigger one, its spare sequences repeating the first image: a
     * new decoder would upload the weights again. */
    int32_t n_run = n;
    if (c->dec && c->dec_seq > n * cp.n_beams && c->dec_seq % cp.n_beams == 0 && c->dec_ctx >= 1 + cp.max_new_tokens)
        n_run = c->dec_seq / cp.n_beams;
    int32_t n_seq = n_run * cp.n_beams;
    int32_t *src = malloc((size_t)n_seq * sizeof *src);
    if (s == MM_OK && !src)
        s = mm_error_set(MM_ERR_NOMEM, "captioner: out of memory");
    for (int32_t q = 0; s == MM_OK && q < n_seq; q++)
        src[q] = q / cp.n_beams < n ? q / cp.n_beams : 0; /* the beams of an image read its states */
    if (s == MM_OK)
        s = decoder_for(c, n_seq, 1 + cp.max_new_tokens);
    if (s == MM_OK)
        s = mm_decoder_set_source(c->dec, states, &shape, src);
    mm_gen_result *r = s == MM_OK ? calloc((size_t)n_run, sizeof *r) : NULL;
    if (s == MM_OK && !r)
        s = mm_error_set(MM_ERR_NOMEM, "captioner: out of memory");
    if (s == MM_OK) {
        mm_gen_params gp = mm_gen_default_params();
        gp.max_new_tokens = cp.max_new_tokens;
        gp.eos_id = c->eos_id;
        gp.n_beams = cp.n_beams;
        gp.length_penalty = cp.length_penalty;
        gp.early_stopping = cp.early_stopping;
        gp.sampling = cp.sampling;
        gp.repetition_penalty = cp.repetition_penalty;
        gp.no_repeat_ngram_size = cp.no_repeat_ngram_size;
        s = mm_generate(c->dec, &gp, &c->start_id, 1, 0, n_run, r);
    }
    for (int32_t i = 0; s == MM_OK && i < n; i++) {
        s = caption_text(c, r[i].tokens, r[i].n_tokens, &out[i].text);
        out[i].tokens = r[i].tokens;
        out[i].n_tokens = r[i].n_tokens;
        out[i].score = (float)r[i].score;
        r[i].tokens = NULL;
    }
    for (int32_t i = 0; r && i < n_run; i++)
        mm_gen_result_clear(&r[i]);
    if (s != MM_OK)
        for (int32_t i = 0; i < n; i++)
            mm_caption_clear(&out[i]);
    free(r);
    free(src);
    free(states);
    return s;
}
