/* Random weights written as a Hugging Face model folder, for the
 * benchmarks (nothing can be downloaded here; a checkpoint differs from
 * these only in its values). */
#ifndef MM_BENCH_WEIGHTS_H
#define MM_BENCH_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tensors collected for one model.safetensors: header text and data (F32,
 * or F16 when f16 is set before the first tensor, as in a half-precision
 * checkpoint). */
typedef struct bench_weights {
    char *header;
    size_t hlen, hcap;
    unsigned char *data;
    size_t n, cap; /* bytes */
    uint64_t seed;
    bool f16;
} bench_weights;

/* Adds a tensor `name` (printf format) of shape[0..n_dims) (safetensors
 * order) filled with small random values. */
bool bench_weight(bench_weights *w, int n_dims, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})
/* Closes the header (after the last tensor). */
bool bench_weights_end(bench_weights *w);
/* Writes model.safetensors into dir and frees w's memory. */
bool bench_weights_write(bench_weights *w, const char *dir);
/* Writes a, b and c one after another into dir/name. */
bool bench_write_file(const char *dir, const char *name, const void *a, size_t na, const void *b, size_t nb,
                      const void *c, size_t nc);
/* Copies dir_from/name to dir_to/name. */
bool bench_copy_file(const char *dir_from, const char *dir_to, const char *name);
/* Removes the files of a temporary model folder and the folder. */
void bench_remove_dir(const char *dir);

/* ---- checkpoints' tensors (names and shapes as Hugging Face stores them) ---- */

/* Whisper's encoder (model.encoder.*): d wide, `layers` blocks of ff. */
bool bench_whisper_encoder(bench_weights *w, int64_t d, int layers, int64_t ff);
/* Whisper's decoder (model.decoder.*), n_vocab tokens, n_ctx positions. */
bool bench_whisper_decoder(bench_weights *w, int64_t d, int layers, int64_t ff, int64_t n_vocab, int64_t n_ctx);
/* ViTModel at 224 with patch 16 (no pooler), names under `prefix`
 * ("" for a bare ViT, "encoder." in a vision-encoder-decoder). */
bool bench_vit(bench_weights *w, const char *prefix, int64_t d, int layers, int64_t ff);
/* GPT2LMHeadModel with cross-attention under `prefix` ("decoder."): Conv1D
 * weights stored [in, out], lm_head tied (not stored). */
bool bench_gpt2_cross(bench_weights *w, const char *prefix, int64_t d, int layers, int64_t n_vocab, int64_t n_pos);

#endif
