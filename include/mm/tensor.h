/* mmrun tensor graphs and compute backends.
 *
 * Plugins describe computation as a graph of ops, then a backend computes it:
 *
 *     mm_graph *g = mm_graph_init();
 *     mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 2, (int64_t[]){64, 1500}, data);
 *     mm_tensor *w = mm_graph_weight(g, weight);        // from a model folder
 *     mm_tensor *y = mm_gelu(g, mm_matmul(g, w, x), MM_GELU_ERF);
 *     mm_graph_output(g, y);
 *     if (mm_backend_compute(backend, g) == MM_OK) mm_tensor_read(y, out, bytes);
 *
 * Layout follows ggml: ne[0] is the innermost (contiguous) dimension, so a
 * PyTorch tensor of shape [B, T, D] has ne = {D, T, B}; nb[] are byte strides.
 * Values seen by ops are F32 (activations, weights) or I32 (token ids,
 * argmax/top-k results). Weights stored as F16/BF16 compute as F32: the
 * CPU backend reads them in place where a matmul or embedding lookup takes
 * them whole, and widens them once for other uses; Vulkan on a GPU keeps
 * them 16-bit for matmuls and widens them at upload for other uses.
 *
 * Errors are sticky: an op given a NULL input or invalid shapes returns NULL
 * and records the first error in the graph; check mm_graph_status() once after
 * building, and mm_backend_compute() refuses a graph in error. */
#ifndef MM_TENSOR_H
#define MM_TENSOR_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MM_MAX_DIMS 4

typedef struct mm_graph mm_graph;
typedef struct mm_tensor mm_tensor;
typedef struct mm_backend mm_backend;

/* ---- graphs ------------------------------------------------------------ */

MM_API mm_graph *mm_graph_init(void); /* NULL (error set) when out of memory */
MM_API void mm_graph_free(mm_graph *g);
MM_API mm_status mm_graph_status(const mm_graph *g); /* first error while building */
MM_API int32_t mm_graph_n_nodes(const mm_graph *g);

/* An input: `data` (F32 or I32, contiguous, ne[0] fastest) is read at compute
 * time and must stay valid until then; it may be NULL at build time and set
 * with mm_tensor_set_data() before computing. */
MM_API mm_tensor *mm_graph_input(mm_graph *g, mm_dtype type, int32_t n_dims, const int64_t *ne,
                                 const void *data);
MM_API void mm_tensor_set_data(mm_tensor *t, const void *data);
/* A constant in host memory of dtype F32/F16/BF16, read at compute time
 * like an input (it must stay valid until then): a backend copies it to
 * its device (or widens it) on every compute and keeps nothing. Model
 * weights that stay resident come from mm_graph_weight + a weight set. */
MM_API mm_tensor *mm_graph_constant(mm_graph *g, mm_dtype storage, int32_t n_dims, const int64_t *ne,
                                    const void *data);
/* A model weight, shape reversed from safetensors order into ne order.
 * In a graph bound to a weight set of its model (mm_graph_set_weights) it is
 * read from the set; otherwise it is streamed like mm_graph_constant. */
MM_API mm_tensor *mm_graph_weight(mm_graph *g, const mm_weight *w);
/* Marks `t` to be read back after compute. */
MM_API void mm_graph_output(mm_graph *g, mm_tensor *t);

/* ---- tensor inspection --------------------------------------------------- */

MM_API mm_dtype mm_tensor_type(const mm_tensor *t);
MM_API int32_t mm_tensor_n_dims(const mm_tensor *t);
MM_API int64_t mm_tensor_ne(const mm_tensor *t, int32_t dim); /* 1 beyond n_dims */
MM_API size_t mm_tensor_nb(const mm_tensor *t, int32_t dim);
MM_API int64_t mm_tensor_nelements(const mm_tensor *t);
MM_API bool mm_tensor_is_contiguous(const mm_tensor *t);
MM_API void mm_tensor_set_name(mm_tensor *t, const char *fmt, ...) MM_PRINTF(2, 3);
MM_API const char *mm_tensor_name(const mm_tensor *t);
/* Copies a computed output (marked with mm_graph_output) as contiguous data. */
MM_API mm_status mm_tensor_read(const mm_tensor *t, void *dst, size_t nbytes);
/* Pointer to the computed output (contiguous, owned by the graph), or NULL. */
MM_API const void *mm_tensor_data(const mm_tensor *t);

/* ---- ops ----------------------------------------------------------------
 * Shapes are given in ne order. Unless stated, inputs may be any view; the
 * builder inserts contiguous copies where a kernel needs them. */

/* out[n,m] = sum_k a[m,k] * b[n,k]: a {K,M,A2,A3}, b {K,N,B2,B3} -> {M,N,B2,B3}.
 * a is an nn.Linear weight as stored ([out,in]); pass mm_transpose(g, w) for a
 * weight stored [in,out] (GPT-2 Conv1D). Batch dims of a broadcast when they
 * divide b's (B2 % A2 == 0): b's batch i2 uses a's batch i2 / (B2/A2), as
 * ggml and grouped-query attention do. */
MM_API mm_tensor *mm_matmul(mm_graph *g, mm_tensor *a, mm_tensor *b);
/* Elementwise; b broadcasts where its ne[i] == 1, otherwise must equal a's. */
MM_API mm_tensor *mm_add(mm_graph *g, mm_tensor *a, mm_tensor *b);
MM_API mm_tensor *mm_mul(mm_graph *g, mm_tensor *a, mm_tensor *b);
MM_API mm_tensor *mm_scale(mm_graph *g, mm_tensor *a, float s);
/* Normalises over ne[0]; w and b ({ne0}) may be NULL. */
MM_API mm_tensor *mm_layer_norm(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b, float eps);

typedef enum mm_gelu_kind {
    MM_GELU_ERF = 0, /* 0.5x(1+erf(x/sqrt2)): Whisper, ViT ("gelu")        */
    MM_GELU_TANH,    /* tanh approximation: GPT-2 ("gelu_new")           */
    MM_GELU_QUICK,   /* x*sigmoid(1.702x): CLIP ("quick_gelu")            */
} mm_gelu_kind;
MM_API mm_tensor *mm_gelu(mm_graph *g, mm_tensor *x, mm_gelu_kind kind);

/* softmax(x*scale + mask) over ne[0] (keys) for every row (query).
 * mask: optional additive F32 {ne0, ne1 or 1, ne2 or 1, ne3 or 1} (use
 * -INFINITY for padding). causal: key j of query row i is masked when
 * j > i + (ne0 - ne1), i.e. queries are the last ne1 positions. A row with
 * every key masked yields zeros. */
MM_API mm_tensor *mm_softmax(mm_graph *g, mm_tensor *x, mm_tensor *mask, float scale, bool causal);

/* Scaled-dot-product attention per head:
 * q {D,Tq,H,B}, k {D,Tk,Hkv,B}, v {Dv,Tk,Hkv,B} (H % Hkv == 0) ->
 * out {Dv,H,Tq,B} (heads adjacent, so a reshape to {Dv*H,Tq,B} merges them).
 * out = softmax(q.k^T * scale + mask, causal) . v with mask/causal as softmax.
 * Query head h reads kv head h / (H/Hkv). */
MM_API mm_tensor *mm_attention(mm_graph *g, mm_tensor *q, mm_tensor *k, mm_tensor *v,
                               mm_tensor *mask, float scale, bool causal);

/* 1-D convolution (PyTorch Conv1d, zero padding): x {T,Cin,B},
 * w {K,Cin,Cout} (stored [Cout,Cin,K]), b {Cout} or NULL ->
 * {Tout,Cout,B}, Tout = (T + 2*pad - K)/stride + 1. */
MM_API mm_tensor *mm_conv1d(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b, int32_t stride,
                            int32_t pad);
/* Non-overlapping 2-D patches (Conv2d with stride = kernel = P, no padding):
 * x {W,H,C,B} (pixel_values [B,C,H,W]), w {P,P,C,Cout}, b {Cout} or NULL ->
 * {Cout, (H/P)*(W/P), B}, patches in row-major order (flatten(2).T). */
MM_API mm_tensor *mm_patch_embed(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b);
/* Embedding lookup: table {D,V}, ids I32 {N,B} -> {D,N,B}. Out-of-range ids
 * make compute fail with MM_ERR_INVALID. */
MM_API mm_tensor *mm_get_rows(mm_graph *g, mm_tensor *table, mm_tensor *ids);
/* Joins a and b (both F32 or both I32) along `dim`; all other ne must match. */
MM_API mm_tensor *mm_concat(mm_graph *g, mm_tensor *a, mm_tensor *b, int32_t dim);

/* Layout. Views alias their source (no copy); mm_cont copies into a fresh
 * contiguous tensor. */
MM_API mm_tensor *mm_cont(mm_graph *g, mm_tensor *a);
MM_API mm_tensor *mm_reshape(mm_graph *g, mm_tensor *a, int32_t n_dims, const int64_t *ne); /* copies if a is not contiguous */
MM_API mm_tensor *mm_view(mm_graph *g, mm_tensor *a, int32_t n_dims, const int64_t *ne, const size_t *nb,
                          size_t offset); /* nb[1..n_dims-1]; nb[0] is the element size */
/* Dimension i of a becomes dimension axis[i] of the result (ggml_permute). */
MM_API mm_tensor *mm_permute(mm_graph *g, mm_tensor *a, int32_t ax0, int32_t ax1, int32_t ax2, int32_t ax3);
MM_API mm_tensor *mm_transpose(mm_graph *g, mm_tensor *a); /* swaps ne[0] and ne[1] */

/* Index of the largest value along ne[0]: {N,R..} -> I32 {1,R..} (first on
 * ties). With NaN in a row the index is unspecified but in range. */
MM_API mm_tensor *mm_argmax(mm_graph *g, mm_tensor *a);
/* Indices of the k largest values along ne[0], largest first (lower index
 * first on ties): {N,R..} -> I32 {k,R..}. */
MM_API mm_tensor *mm_top_k(mm_graph *g, mm_tensor *a, int32_t k);

/* ---- persistent buffers ----------------------------------------------------
 * Memory a backend keeps between computes, for state that outlives one
 * graph: a decoder's self-attention KV cache, the cross-attention keys and
 * values computed once per input. On a GPU it stays in device memory, so a
 * decoding step moves only its token in and its logits out.
 *
 *     mm_buffer *kc;  mm_buffer_init(backend, MM_DTYPE_F32, 3, (int64_t[]){D, T_max, H}, &kc);
 *     // each step, in the step's graph:
 *     mm_tensor *k_all = mm_graph_buffer(g, kc);
 *     mm_tensor *row   = mm_view(g, k_all, 3, (int64_t[]){D, 1, H}, nb, pos * nb[1]);
 *     mm_store(g, k_new, row);                       // written when g computes
 *     mm_tensor *keys  = mm_view(g, k_all, 3, (int64_t[]){D, pos + 1, H}, nb, 0);
 *     ... mm_attention(g, q, keys, values, NULL, scale, false) ...
 *
 * Ops run in the order they were built, so a read built after an mm_store
 * sees what it wrote. A buffer belongs to the backend that made it (others
 * refuse it at compute) and must be freed before that backend.
 *
 * mm_store's offset is fixed when the graph is built. A decoder step built
 * once and computed again for every token takes its positions as inputs
 * instead: mm_set_rows writes the new rows where an I32 input says, and the
 * step attends over the whole cache with an additive mask input (0 up to
 * each sequence's position, -INFINITY beyond), so nothing in the graph
 * depends on the position:
 *
 *     mm_buffer *kc;  mm_buffer_init(backend, MM_DTYPE_F32, 4, (int64_t[]){D, T_max, H, B}, &kc);
 *     // built once:
 *     mm_tensor *pos  = mm_graph_input(g, MM_DTYPE_I32, 3, (int64_t[]){1, 1, B}, pos_data);
 *     mm_tensor *mask = mm_graph_input(g, MM_DTYPE_F32, 4, (int64_t[]){T_max, 1, 1, B}, mask_data);
 *     mm_tensor *keys = mm_set_rows(g, mm_graph_buffer(g, kc), k_new, pos); // k_new {D, 1, H, B}
 *     ... same for values ...
 *     ... mm_attention(g, q, keys, values, mask, scale, false) ...          // over all T_max rows
 *     // per token: fill pos_data and mask_data (and the token), then mm_backend_compute(backend, g).
 *
 * (pos {1, 1, B} broadcasts over the heads: sequence b writes row
 * pos_data[b] of its own slice of the cache.) */
typedef struct mm_buffer mm_buffer;

/* A zero-filled F32 or I32 buffer of shape ne. */
MM_API mm_status mm_buffer_init(mm_backend *b, mm_dtype type, int32_t n_dims, const int64_t *ne, mm_buffer **out);
MM_API void mm_buffer_free(mm_buffer *buf);
MM_API size_t mm_buffer_nbytes(const mm_buffer *buf);
/* Host access to the whole buffer (nbytes must be mm_buffer_nbytes()),
 * between computes. */
MM_API mm_status mm_buffer_read(const mm_buffer *buf, void *dst, size_t nbytes);
MM_API mm_status mm_buffer_write(mm_buffer *buf, const void *src, size_t nbytes);
/* The buffer's contents as a graph leaf of its shape; views of it read (or,
 * with mm_store, write) part of it. */
MM_API mm_tensor *mm_graph_buffer(mm_graph *g, mm_buffer *buf);
/* When the graph computes, writes src (any strides) into dst, a view of a
 * buffer leaf with src's shape and type; src must not overlap dst. Runs
 * even if nothing reads it. Returns dst's region after the write (a view
 * of the buffer). */
MM_API mm_tensor *mm_store(mm_graph *g, mm_tensor *src, mm_tensor *dst);
/* When the graph computes, writes row n of src into row ids[n] of dst, per
 * batch: dst is a view of a buffer leaf (or the leaf) {D,R,A,B}, F32, rows
 * along ne[1], each row contiguous; src F32 {D,N,A,B} (any strides); ids
 * I32 {N,A,B}, where ids' ne[1] and/or ne[2] may be 1 to broadcast over
 * A/B. Runs even if nothing reads it (like mm_store) and returns dst's
 * region after the write (a view of the buffer), so reads built after it
 * see the new rows. An id outside [0, R) makes compute fail with
 * MM_ERR_INVALID (the buffer's contents are then unspecified). When one
 * batch lists a row twice, the later n wins, as in a sequential loop.
 * Refused at build: src overlapping dst in the buffer, a dst view whose
 * elements overlap each other. */
MM_API mm_tensor *mm_set_rows(mm_graph *g, mm_tensor *dst, mm_tensor *src, mm_tensor *ids);

/* ---- weight sets -----------------------------------------------------------
 * A model's weights on one backend, in the form its graphs read them
 * (device copies on a GPU, 16-bit or widened to F32; widened copies of
 * F16/BF16 weights on the CPU, which otherwise reads the memory map in
 * place). The set belongs to whoever loaded the model (the runtime's
 * encoder, decoder and embedder objects do this): uploading is an explicit
 * step, and freeing the set returns the backend memory, as ggml's backend
 * buffers do. Nothing is cached by address, so a model freed and another
 * mapped at the same place can never be confused.
 *
 *     mm_weights *w;  mm_weights_init(backend, model, &w);
 *     mm_graph_set_weights(g, w);      // g's model weights read from w
 *     mm_weights_load(w, g);           // optional: upload now, not at the first compute
 *     mm_backend_compute(backend, g);  // uploads whatever g needs and w lacks
 *     ...
 *     mm_graph_free(g); mm_weights_free(w); mm_model_free(model);
 *
 * The model must outlive the set, and the set every graph bound to it; a
 * set must be freed before its backend. */
typedef struct mm_weights mm_weights;

MM_API mm_status mm_weights_init(mm_backend *b, const mm_model *m, mm_weights **out);
MM_API void mm_weights_free(mm_weights *w);
/* Makes every weight of w's model that g reads resident in w, in the form
 * g reads it (g need not be bound to w). */
MM_API mm_status mm_weights_load(mm_weights *w, mm_graph *g);
/* Backend memory the set holds. */
MM_API size_t mm_weights_nbytes(const mm_weights *w);
/* Binds g's model weights to w (NULL unbinds: they are streamed). A weight
 * of another model in a bound graph makes compute fail. */
MM_API void mm_graph_set_weights(mm_graph *g, mm_weights *w);

/* ---- backends ------------------------------------------------------------ */

typedef enum mm_backend_kind {
    MM_BACKEND_AUTO = 0, /* Vulkan on a GPU if one works, else CPU (logged once); a
                          * CPU Vulkan driver (lavapipe) only when vk_device names it */
    MM_BACKEND_CPU,
    MM_BACKEND_VULKAN,
} mm_backend_kind;

/* Vulkan paths. 0 in each (the default) is the device's own choice; the
 * others run on any device the paths that other devices take (so a CPU
 * driver such as lavapipe can test them), or work around a driver. */
typedef enum mm_vk_kernels {
    MM_VK_KERNELS_AUTO = 0, /* texel-read kernels on a CPU driver, GPU kernels elsewhere */
    MM_VK_KERNELS_GPU,      /* GPU kernels (storage buffers, shared-memory tiles) even on a CPU driver */
} mm_vk_kernels;
typedef enum mm_vk_memory {
    MM_VK_MEMORY_AUTO = 0,  /* host-mapped device memory where the device has it, else staging */
    MM_VK_MEMORY_STAGING,   /* copies through a staging buffer (a discrete GPU without resizable BAR) */
} mm_vk_memory;
typedef enum mm_vk_subgroups {
    MM_VK_SUBGROUPS_AUTO = 0, /* subgroup arithmetic where the device has it */
    MM_VK_SUBGROUPS_OFF,      /* shared-memory reductions only */
} mm_vk_subgroups;

/* Device limits to assume instead of the device's own where they are
 * stricter (0: the device's own value), so that a generous device (lavapipe)
 * runs the paths stricter GPUs take; and the work per queue submission. */
typedef struct mm_vk_limits {
    uint32_t storage_align;   /* minStorageBufferOffsetAlignment, raised to this  */
    uint32_t invocations;     /* maxComputeWorkGroupInvocations (and size x)       */
    uint32_t shared_bytes;    /* maxComputeSharedMemorySize                        */
    uint32_t workgroups;      /* maxComputeWorkGroupCount, each dimension          */
    uint32_t storage_buffers; /* maxPerStageDescriptorStorageBuffers               */
    uint64_t storage_range;   /* maxStorageBufferRange, bytes                      */
    uint64_t alloc_bytes;     /* maxMemoryAllocationSize, bytes                    */
    uint64_t submit_flops;    /* estimated work per queue submission; 0: 20 GFLOP  */
} mm_vk_limits;

typedef struct mm_backend_params {
    mm_backend_kind kind;
    int32_t n_threads;    /* CPU threads; 0 = all cores                      */
    int32_t vk_device;    /* Vulkan device index; -1 = the best: discrete, integrated,
                           * virtual, other, CPU driver (first of its kind) */
    mm_vk_kernels vk_kernels;
    mm_vk_memory vk_memory;
    mm_vk_subgroups vk_subgroups;
    mm_vk_limits vk_limits;
} mm_backend_params;

MM_API mm_backend_params mm_backend_default_params(void);
/* The environment overrides the vk_* fields, for tests: MM_VK_GPU_KERNELS=1
 * (MM_VK_KERNELS_GPU), MM_VK_FORCE_STAGING=1 (MM_VK_MEMORY_STAGING),
 * MM_VK_NO_SUBGROUP=1 (MM_VK_SUBGROUPS_OFF); unset, empty or 0 leave them.
 * MM_VK_LIMIT_<FIELD> sets a vk_limits field (STORAGE_ALIGN, INVOCATIONS,
 * SHARED_BYTES, WORKGROUPS, STORAGE_BUFFERS, STORAGE_RANGE, ALLOC_BYTES,
 * SUBMIT_FLOPS), a number with an optional K, M or G (powers of 1024),
 * where stricter than the field's value; one that is not a number fails the
 * init. */
MM_API mm_status mm_backend_init(const mm_backend_params *p, mm_backend **out);
MM_API void mm_backend_free(mm_backend *b);
MM_API mm_backend_kind mm_backend_get_kind(const mm_backend *b);
MM_API const char *mm_backend_name(const mm_backend *b); /* "cpu (2 threads)", "vulkan (llvmpipe ...)" */
/* Backend memory in use now, by purpose. */
typedef struct mm_backend_memory {
    uint64_t weights; /* held by live weight sets                        */
    uint64_t buffers; /* persistent buffers (mm_buffer)                   */
    uint64_t work;    /* intermediates, scratch and transfer memory kept
                       * between computes                                 */
} mm_backend_memory;
MM_API mm_backend_memory mm_backend_memory_used(const mm_backend *b);
/* Computes every node the graph's outputs depend on; afterwards outputs can
 * be read with mm_tensor_read(). A graph may be computed again (new input data). */
MM_API mm_status mm_backend_compute(mm_backend *b, mm_graph *g);

#ifdef __cplusplus
}
#endif
#endif
