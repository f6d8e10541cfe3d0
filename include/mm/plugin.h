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

#define MM_PLUGIN_ABI_VERSION 2u
#define MM_PLUGIN_ENTRY_SYMBOL "mm_plugin_entry"

/* What a plugin can do for a model_type. A plugin declares a role only when
 * it provides that role's ops table: the runtime refuses, at load, a plugin
 * whose declared roles and tables disagree. */
typedef enum mm_plugin_role {
    MM_ROLE_ENCODER = 1u << 0,  /* media tensor -> hidden states {D,T,B}       */
    MM_ROLE_DECODER = 1u << 1,  /* text decoder (self + cross attention)      */
    MM_ROLE_EMBEDDER = 1u << 2, /* joint image/text embeddings                */
} mm_plugin_role;
#define MM_ROLE_ALL (MM_ROLE_ENCODER | MM_ROLE_DECODER | MM_ROLE_EMBEDDER)

typedef struct mm_plugin_model_type {
    const char *model_type; /* config.json "model_type", e.g. "whisper"        */
    uint32_t roles;         /* mm_plugin_role bits                            */
} mm_plugin_model_type;

/* Where in a model folder a part lives (the runtime's routing table says,
 * see mm_model_route): vision-encoder-decoder keeps the ViT config under
 * "encoder" and its weights under "encoder."; Whisper's encoder config is
 * top level and its weights are under "model.encoder.".
 * The runtime keeps the component, its strings and the model alive until the
 * plugin's free() has run, so a plugin may keep pointers to them. */
typedef struct mm_component {
    const mm_model *model;
    const char *config_prefix; /* "" or "encoder." (dotted-path prefix)       */
    const char *weight_prefix; /* "model.encoder.", "encoder.", ...            */
} mm_component;

/* Shape of a tensor, in ne order. */
typedef struct mm_shape {
    int32_t n_dims;
    int64_t ne[MM_MAX_DIMS];
} mm_shape;

/* Every role's table starts with load/free:
 * - load() reads and checks the config (sizes, activations, head counts)
 *   and keeps what its builders need in *state. It does not build graphs:
 *   right after load the runtime builds the part's graph once without data
 *   (mm_encoder_init, and the decoder/embedder objects alike), so a
 *   missing or misshapen weight fails the load with the builder's message
 *   naming it. Builders therefore check what they read (mm_nn_weight,
 *   mm_nn_expect_shape, mm_nn_linear name the weight).
 * - Builders only append to the graph they are given; the runtime owns the
 *   graph, its inputs, the persistent buffers and the weights' residency. */

/* ---- encoder: media tensor -> hidden states ------------------------------ */

typedef struct mm_encoder_ops {
    mm_status (*load)(const mm_component *c, void **state);
    void (*free)(void *state);
    /* Input shape for a batch of `batch` items (e.g. {3000, 80, B} for
     * Whisper features, {224, 224, 3, B} for pixel values). */
    mm_status (*input_shape)(const void *state, int32_t batch, mm_shape *out);
    /* Appends the encoder to g; `input` has input_shape(). *out is the last
     * hidden state {D, T, B}. */
    mm_status (*build)(const void *state, mm_graph *g, mm_tensor *input, mm_tensor **out);
} mm_encoder_ops;

/* ---- decoder: tokens -> logits, attending to an encoder's states --------
 *
 * Two graphs, each built once per shape and then replayed: nothing in them
 * depends on the values of a step, only on its shape (B sequences, N new
 * tokens each, T_max cache positions, T_src encoder frames).
 *
 * 1. Cross K/V, once per input (per 30 s window, per image): build_cross_kv
 *    reads encoder states {D_enc, T_src, B} (from any encoder: a graph
 *    input, a buffer, or the encoder's own output node) and writes each
 *    cross-attention buffer whole with mm_store.
 * 2. The step, once per generated token: build_step takes the new token ids
 *    and their positions as inputs, writes this step's self-attention keys
 *    and values into the cache buffers at each token's position (mm_set_rows
 *    with the positions as ids), attends over the whole cache with the
 *    additive mask (keys after a token's position are -INFINITY), attends
 *    over the cross buffers, and returns logits. Replaying it with new
 *    input data re-records nothing.
 *
 * Persistent buffers (mm/tensor.h): the runtime asks buffer_shape() for each
 * one, allocates it with mm_buffer_init (F32, zero-filled) on its backend,
 * owns it and frees it with the decoder; it hands them to the builders as
 * buffer leaves (mm_graph_buffer). Their layout is the plugin's (per-head
 * {hd, T, H, B} lets attention read them without a copy), except that the
 * batch is always the outermost dimension (ne[n_dims - 1] == B), so the
 * runtime can reorder sequences (beam search) without knowing the layout.
 * Self-attention buffers are sized for T_max positions (at most n_ctx),
 * cross-attention buffers for T_src frames. The dry build after load is a
 * cross K/V graph and a step graph for one sequence (B = 1, N = 1). */

typedef enum mm_decoder_buffer {
    MM_DECODER_SELF_KV = 0,  /* the self-attention cache, T_max positions */
    MM_DECODER_CROSS_KV = 1, /* keys/values of the encoder states, T_src   */
} mm_decoder_buffer;

typedef struct mm_decoder_dims {
    int64_t n_vocab;    /* logits per token                                 */
    int64_t n_ctx;      /* positions a sequence may hold (learned positions) */
    int64_t n_enc;      /* D_enc: width of the encoder states it reads      */
    int32_t n_self_kv;  /* MM_DECODER_SELF_KV buffers (e.g. K, V per layer) */
    int32_t n_cross_kv; /* MM_DECODER_CROSS_KV buffers                      */
} mm_decoder_dims;

/* The inputs of one step over B sequences, N new tokens each (N = 1 when
 * decoding; N > 1 feeds a prompt in one step). The runtime creates them and
 * sets their data before each compute. */
typedef struct mm_decoder_step_inputs {
    int32_t n_tokens;          /* N                                              */
    /* Logits for the last token of each sequence only ({n_vocab, 1, B}): a
     * prompt of N tokens then pays one LM head per sequence, not N. */
    bool last_logits_only;
    mm_tensor *tokens;         /* I32 {N, B}: token ids                          */
    mm_tensor *positions;      /* I32 {N, B}: each token's position, < T_max     */
    mm_tensor *mask;           /* F32 {T_max, N, 1, B}: 0 for cache positions up to
                                * the token's own, -INFINITY after (also masks
                                * positions a shorter sequence never wrote)       */
    mm_tensor *const *self_kv; /* n_self_kv buffer leaves, buffer_shape(SELF_KV, B, T_max) */
    mm_tensor *const *cross_kv; /* n_cross_kv buffer leaves, buffer_shape(CROSS_KV, S, T_src):
                                 * S == B, or S divides B and sequence b reads
                                 * copy b / (B/S) (mm_nn_attn's k/v do so) */
} mm_decoder_step_inputs;

typedef struct mm_decoder_ops {
    mm_status (*load)(const mm_component *c, void **state);
    void (*free)(void *state);
    mm_status (*dims)(const void *state, mm_decoder_dims *out);
    /* Shape of buffer i (0 <= i < n_self_kv or n_cross_kv) of `kind` for
     * `batch` sequences and n_pos positions (T_max for the cache, T_src for
     * the cross buffers); the last dimension is `batch`. */
    mm_status (*buffer_shape)(const void *state, mm_decoder_buffer kind, int32_t i, int32_t batch, int64_t n_pos,
                              mm_shape *out);
    /* Appends to g the cross K/V of `enc` {D_enc, T_src, B}, stored into the
     * n_cross_kv buffer leaves. */
    mm_status (*build_cross_kv)(const void *state, mm_graph *g, mm_tensor *enc, mm_tensor *const *cross_kv);
    /* Appends one step to g; *logits is F32 {n_vocab, N, B}, or
     * {n_vocab, 1, B} with step->last_logits_only. */
    mm_status (*build_step)(const void *state, mm_graph *g, const mm_decoder_step_inputs *step, mm_tensor **logits);
} mm_decoder_ops;

/* ---- embedder: image and text towers into one space (CLIP) --------------
 *
 * Two towers, each a graph built once per shape (B images; B texts of T
 * tokens) and replayed with new input data. Texts arrive padded on the
 * right to a common T; the padding reaches the graph as inputs the runtime
 * makes from each text's length n[b] (Hugging Face's attention_mask), so
 * nothing in a graph depends on the values:
 * - mask, additive, 0 for a text's n[b] tokens and -INFINITY for its padding
 *   keys. Under the causal mask a real token never sees padding anyway; the
 *   mask keeps the padding positions' own states equal to the reference's.
 * - pool, the token each text's embedding is taken at: the plugin knows its
 *   config's rule (CLIP: the end-of-text token, see text_pool) and says
 *   where on the host; the runtime turns that into rows of the flattened
 *   states, which the graph gathers with mm_get_rows.
 * The dry build after load is an image tower for one image and a text
 * tower for one text of n_ctx tokens. */

typedef struct mm_embedder_dims {
    int64_t n_embd;    /* E: projection_dim, the joint space's width         */
    int64_t n_ctx;     /* longest text (max_position_embeddings)             */
    int64_t n_vocab;   /* token ids are in [0, n_vocab)                      */
    float logit_scale; /* the multiplier of cosine similarities: exp() of the
                        * checkpoint's logit_scale                          */
} mm_embedder_dims;

/* The text tower's inputs for B texts of T tokens; the runtime creates them
 * and sets their data before each compute. */
typedef struct mm_embedder_text_inputs {
    int32_t n_tokens; /* T (<= n_ctx)                                       */
    mm_tensor *ids;   /* I32 {T, B}: token ids, each text padded after its end */
    mm_tensor *mask;  /* F32 {T, 1, 1, B}: 0 for a text's tokens, -INFINITY
                       * for its padding (broadcasts over queries and heads) */
    mm_tensor *pool;  /* I32 {B}: b*T + pos[b], text b's pooled token as a
                       * row of the final states flattened to {D, T*B}      */
} mm_embedder_text_inputs;

typedef struct mm_embedder_ops {
    mm_status (*load)(const mm_component *c, void **state);
    void (*free)(void *state);
    mm_status (*dims)(const void *state, mm_embedder_dims *out);
    /* Pixel values for `batch` images, e.g. {224, 224, 3, B}. */
    mm_status (*image_input_shape)(const void *state, int32_t batch, mm_shape *out);
    /* Appends the image tower: pixels -> projected embeddings F32 {E, B}
     * (not normalised: the runtime normalises for cosine similarity).
     * hidden, when not NULL, receives the tower's last hidden states (CLIP:
     * the encoder's output {D, 1 + patches, B}, before the pooling norm),
     * for stage-by-stage checks. */
    mm_status (*build_image)(const void *state, mm_graph *g, mm_tensor *pixels, mm_tensor **embeds,
                             mm_tensor **hidden);
    /* The position pos[b] of the token text b is pooled at, for `batch`
     * texts ids[b * n_tokens + t] (host, row-major) of which the first
     * len[b] are real (the rest is padding, never pooled at). */
    mm_status (*text_pool)(const void *state, const int32_t *ids, int32_t n_tokens, int32_t batch,
                           const int32_t *len, int32_t *pos);
    /* Appends the text tower -> projected embeddings F32 {E, B}; hidden,
     * when not NULL, receives the final states {D, T, B} (after the last
     * norm, padding positions included). */
    mm_status (*build_text)(const void *state, mm_graph *g, const mm_embedder_text_inputs *in, mm_tensor **embeds,
                            mm_tensor **hidden);
} mm_embedder_ops;

typedef struct mm_plugin {
    uint32_t abi_version; /* MM_PLUGIN_ABI_VERSION                            */
    const char *name;     /* "audio", "vit", ...                              */
    const char *description;
    const mm_plugin_model_type *model_types; /* terminated by {NULL, 0}       */
    /* The role tables: non-NULL exactly when some model type declares the
     * role. */
    const mm_encoder_ops *encoder;
    const mm_decoder_ops *decoder;
    const mm_embedder_ops *embedder;
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
