/* Reads one float32 array from a NumPy .npz (a zip of .npy files, stored or
 * deflated), so tests can compare against openai-whisper's assets. */
#ifndef MM_TEST_NPZ_H
#define MM_TEST_NPZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns a malloc'd copy of array `name` (without ".npy") and its shape
 * (C order, at most 4 dims), or NULL with a reason in `why`. */
float *npz_read_f32(const char *path, const char *name, int64_t shape[4], int *n_dims, char *why, size_t why_size);

#endif
