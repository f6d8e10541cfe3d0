/* mmrun plugin ABI.
 *
 * A plugin is a shared object exporting exactly one symbol, MM_PLUGIN_ENTRY,
 * a function returning a pointer to a const mm_plugin table. The runtime reads
 * abi_version first and refuses any other number with a clear message, so the
 * rest of the table may change between ABI versions.
 *
 * Plugins never touch a compute API: they read weights from an mm_model and
 * build graphs with mm/tensor.h, so every plugin runs on every backend. */
#ifndef MM_PLUGIN_H
#define MM_PLUGIN_H

#include "mm/mm.h"
#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MM_PLUGIN_ABI_VERSION 1u
#define MM_PLUGIN_ENTRY_SYMBOL "mm_plugin_entry"

/* What a plugin can do for a model_type. */
typedef enum mm_plugin_role {
    MM_ROLE_ENCODER = 1u << 0,  /* media tensor -> hidden states              */
    MM_ROLE_DECODER = 1u << 1,  /* text decoder (self + cross attention)      */
    MM_ROLE_EMBEDDER = 1u << 2, /* joint image/text embeddings                */
} mm_plugin_role;

typedef struct mm_plugin_model_type {
    const char *model_type; /* config.json "model_type", e.g. "whisper"        */
    uint32_t roles;         /* mm_plugin_role bits                            */
} mm_plugin_model_type;

/* Where in a model folder a component lives: vision-encoder-decoder keeps the
 * ViT config under "encoder" and its weights under "encoder."; Whisper's
 * encoder config is top level and its weights are under "model.encoder.".
 * The runtime keeps the component, its strings and the model alive until the
 * plugin's free() has run, so a plugin may keep pointers to them. */
typedef struct mm_component {
    const mm_model *model;
    const char *config_prefix; /* "" or "encoder." (dotted-path prefix)       */
    const char *weight_prefix; /* "model.encoder.", "encoder.", ...            */
} mm_component;

/* Shape of the tensor an encoder expects / produces, in ne order. */
typedef struct mm_shape {
    int32_t n_dims;
    int64_t ne[MM_MAX_DIMS];
} mm_shape;

typedef struct mm_encoder_ops {
    /* Reads config and checks weights; *state is passed to the calls below. */
    mm_status (*load)(const mm_component *c, void **state);
    void (*free)(void *state);
    /* Input shape for a batch of `batch` items (e.g. {3000, 80, B} for
     * Whisper features, {224, 224, 3, B} for pixel values). */
    mm_status (*input_shape)(const void *state, int32_t batch, mm_shape *out);
    /* Appends the encoder to g; `input` has input_shape(). *out is the last
     * hidden state {D, T, B}. */
    mm_status (*build)(const void *state, mm_graph *g, mm_tensor *input, mm_tensor **out);
} mm_encoder_ops;

typedef struct mm_plugin {
    uint32_t abi_version; /* MM_PLUGIN_ABI_VERSION                            */
    const char *name;     /* "audio", "vit", ...                              */
    const char *description;
    const mm_plugin_model_type *model_types; /* terminated by {NULL, 0}       */
    const mm_encoder_ops *encoder;           /* NULL when no model_type has MM_ROLE_ENCODER */
} mm_plugin;

typedef const mm_plugin *(*mm_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define MM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define MM_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
}
#endif
#endif
