/* mmrun public API: errors, logging, runtime, model folders.
 *
 * Every fallible call returns an mm_status; on failure a human-readable
 * message describing what went wrong is available from mm_error_message()
 * (thread-local, valid until the next failing call on the same thread).
 * The library never exits the process and never writes to stdout. */
#ifndef MM_MM_H
#define MM_MM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MM_API __attribute__((visibility("default")))
#define MM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MM_API
#define MM_PRINTF(f, a)
#endif

#define MM_VERSION_MAJOR 0
#define MM_VERSION_MINOR 1
#define MM_VERSION_PATCH 0

MM_API const char *mm_version(void);

/* ---- errors ------------------------------------------------------------ */

typedef enum mm_status {
    MM_OK = 0,
    MM_ERR_INVALID,     /* bad argument or shape                          */
    MM_ERR_IO,          /* file missing or unreadable                     */
    MM_ERR_FORMAT,      /* corrupt or unsupported file contents           */
    MM_ERR_UNSUPPORTED, /* valid request this build cannot serve          */
    MM_ERR_NOMEM,       /* allocation failed or a size is implausibly big */
    MM_ERR_BACKEND,     /* compute backend failure (Vulkan error, ...)    */
    MM_ERR_PLUGIN,      /* plugin missing, broken, or wrong ABI           */
} mm_status;

MM_API const char *mm_status_name(mm_status s);
/* Message of the last failure on this thread ("" if none). */
MM_API const char *mm_error_message(void);
/* Records a failure message and returns `s` (for `return mm_error_set(...)`).
 * Plugins use this too. */
MM_API mm_status mm_error_set(mm_status s, const char *fmt, ...) MM_PRINTF(2, 3);
/* Prefixes the current message with "<context>: " and returns `s`. */
MM_API mm_status mm_error_wrap(mm_status s, const char *fmt, ...) MM_PRINTF(2, 3);
MM_API void mm_error_clear(void);

/* ---- logging (stderr by default; never stdout) ------------------------- */

typedef enum mm_log_level { MM_LOG_DEBUG, MM_LOG_INFO, MM_LOG_WARN, MM_LOG_ERROR } mm_log_level;
typedef void (*mm_log_fn)(mm_log_level level, const char *msg, void *user);

MM_API void mm_log_set(mm_log_fn fn, void *user); /* fn == NULL restores the default */
MM_API void mm_log_set_level(mm_log_level min_level);
MM_API void mm_log(mm_log_level level, const char *fmt, ...) MM_PRINTF(2, 3);

/* ---- dtypes ------------------------------------------------------------ */

typedef enum mm_dtype {
    MM_DTYPE_F32 = 0,
    MM_DTYPE_F16,
    MM_DTYPE_BF16,
    MM_DTYPE_I32,
    MM_DTYPE_COUNT
} mm_dtype;

MM_API const char *mm_dtype_name(mm_dtype t);
MM_API size_t mm_dtype_size(mm_dtype t);
MM_API float mm_f16_to_f32(uint16_t h);
MM_API uint16_t mm_f32_to_f16(float f);
MM_API float mm_bf16_to_f32(uint16_t h);
MM_API uint16_t mm_f32_to_bf16(float f);

/* ---- model folders (config.json + safetensors, memory-mapped) ---------- */

typedef struct mm_model mm_model;

/* One tensor of a model folder. `shape` is outermost-first, as written in
 * the safetensors header; `data` points into the memory map. */
typedef struct mm_weight {
    const char *name;
    mm_dtype dtype;
    int32_t n_dims;
    int64_t shape[4];
    const void *data;
    size_t nbytes;
} mm_weight;

/* Loads <dir>/config.json and either <dir>/model.safetensors or the shards
 * listed by <dir>/model.safetensors.index.json. */
MM_API mm_status mm_model_load(const char *dir, mm_model **out);
MM_API void mm_model_free(mm_model *m);
MM_API const char *mm_model_dir(const mm_model *m);
MM_API const char *mm_model_type(const mm_model *m); /* config.json "model_type" */
MM_API int32_t mm_model_weight_count(const mm_model *m);
MM_API const mm_weight *mm_model_weight_at(const mm_model *m, int32_t i);
/* NULL if absent (no error recorded; use mm_model_weight_get to require it). */
MM_API const mm_weight *mm_model_weight_find(const mm_model *m, const char *name);
MM_API mm_status mm_model_weight_get(const mm_model *m, const char *name, const mm_weight **out);

/* Loads one safetensors file on its own (tests, tools). */
MM_API mm_status mm_safetensors_open(const char *path, mm_model **out);

/* config.json access by dotted path ("encoder.hidden_size",
 * "text_config.num_attention_heads", "suppress_tokens.3"). */
MM_API bool mm_config_has(const mm_model *m, const char *path);
MM_API mm_status mm_config_int(const mm_model *m, const char *path, int64_t *out);
MM_API mm_status mm_config_float(const mm_model *m, const char *path, double *out);
MM_API mm_status mm_config_string(const mm_model *m, const char *path, const char **out);
MM_API mm_status mm_config_bool(const mm_model *m, const char *path, bool *out);
/* Array length at path (0 if absent or not an array). */
MM_API int32_t mm_config_array_len(const mm_model *m, const char *path);
/* Like the above but return `def` when the key is absent (wrong type is still an error). */
MM_API mm_status mm_config_int_or(const mm_model *m, const char *path, int64_t def, int64_t *out);
MM_API mm_status mm_config_float_or(const mm_model *m, const char *path, double def, double *out);

#ifdef __cplusplus
}
#endif
#endif
