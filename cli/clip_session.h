/* What embed, classify, index and search share: a CLIP model folder loaded
 * with its embedder, tokenizer and image processor; texts and image files
 * embedded in batches; small output helpers. */
#ifndef MM_CLI_CLIP_SESSION_H
#define MM_CLI_CLIP_SESSION_H

#include "cli.h"
#include "mm/media.h"
#include "mm/tokenizer.h"

#include <stdio.h>

typedef struct clip_session {
    mm_runtime *rt;
    mm_model *model;
    mm_embedder *emb;
    mm_tokenizer *tok;  /* NULL unless loaded with texts */
    mm_image_proc *pp;  /* NULL unless loaded with images */
    int32_t n_embd, width, height;
} clip_session;

/* Default images per tower run. */
#define CLIP_DEFAULT_BATCH 16

/* Loads `dir` on the runtime opt->rt; with_texts / with_images load the
 * tokenizer and the image processor. On failure prints the error and
 * returns false (what is loaded is freed by clip_session_free). */
bool clip_session_init(clip_session *s, const cli_options *opt, const char *dir, bool with_texts, bool with_images);
void clip_session_free(clip_session *s);

/* Embeds texts[0..n) into out [n][E] in batches of `batch`, truncating a
 * text longer than the model's context (with a warning naming it, as
 * transformers' truncation=True does). Prints the error, returns false. */
bool clip_embed_texts(clip_session *s, const char *const *texts, int32_t n, int32_t batch, float *out);

/* Embeds images paths[0..n) into out [n][E] in batches of `batch`, decoding
 * ahead on worker threads. ok[i] says whether image i was read; a failed
 * one is reported on stderr ("mmrun: error: PATH: why") and its row zeroed.
 * Returns the number of failures, or -1 (printed) when the model fails. */
int32_t clip_embed_images(clip_session *s, const char *const *paths, int32_t n, int32_t batch, float *out,
                          bool *ok);

/* JSON string output (quotes and escapes) and a float that reads back
 * exactly (%.9g; non-finite values as null). */
void json_string(FILE *f, const char *s);
void json_float(FILE *f, float v);

/* Model id: "fnv1a64:<16 hex>" over config.json, preprocessor_config.json
 * and the names and sizes of the *.safetensors files of dir, so a database
 * made with another model (or changed weights) is noticed. */
bool clip_model_id(const char *dir, char *out, size_t size);

#endif
