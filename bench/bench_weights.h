/* Random weights written as a Hugging Face model folder, for the
 * benchmarks (nothing can be downloaded here; a checkpoint differs from
 * these only in its values). */
#ifndef MM_BENCH_WEIGHTS_H
#define MM_BENCH_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tensors collected for one model.safetensors: header text and F32 data. */
typedef struct bench_weights {
    char *header;
    size_t hlen, hcap;
    float *data;
    size_t n, cap; /* floats */
    uint64_t seed;
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

#endif
