/* Internal layout of graphs and tensors, shared by the graph builder and the
 * backends. Plugins only see the opaque handles of mm/tensor.h. */
#ifndef MM_GRAPH_IMPL_H
#define MM_GRAPH_IMPL_H

#include "mm/tensor.h"

typedef enum mm_op {
    MM_OP_NONE = 0,    /* leaf: input (host data) or constant (resident weight) */
    MM_OP_VIEW,        /* alias of view_src at view_offs with own ne/nb       */
    MM_OP_CONT,        /* src0 (any strides) -> contiguous                     */
    MM_OP_MATMUL,      /* src0 a, src1 b (any strides)                         */
    MM_OP_ADD,         /* src0 a, src1 b (any strides, b broadcasts ne==1)     */
    MM_OP_MUL,         /* as ADD                                              */
    MM_OP_SCALE,       /* src0 (any strides); f[0] scale                       */
    MM_OP_LAYER_NORM,  /* src0 x, src1 w?, src2 b? (contiguous); f[0] eps      */
    MM_OP_GELU,        /* src0 (any strides); i[0] mm_gelu_kind                */
    MM_OP_SOFTMAX,     /* src0 x, src1 mask? (contiguous); f[0] scale, i[0] causal */
    MM_OP_ATTENTION,   /* src0 q, src1 k, src2 v (nb[0]==4), src3 mask? (contiguous);
                          f[0] scale, i[0] causal                              */
    MM_OP_CONV1D,      /* src0 x, src1 w, src2 b? (contiguous); i[0] stride, i[1] pad */
    MM_OP_PATCH_EMBED, /* src0 x, src1 w, src2 b? (contiguous)                 */
    MM_OP_GET_ROWS,    /* src0 table, src1 ids I32 (contiguous)                */
    MM_OP_CONCAT,      /* src0 a, src1 b (any strides); i[0] dim               */
    MM_OP_ARGMAX,      /* src0 (contiguous) -> I32                             */
    MM_OP_TOP_K,       /* src0 (contiguous) -> I32; i[0] k                     */
    MM_OP_STORE,       /* src0 (any strides) written into this node's own
                          region of a buffer leaf (view_src; strided)         */
    MM_OP_SET_ROWS,    /* src0 rows (any strides) scattered into this node's
                          region of a buffer leaf (view_src; nb[0] == 4) at
                          rows src1 (ids I32, contiguous {N, A|1, B|1})       */
    MM_OP_COUNT
} mm_op;

enum {
    MM_TENSOR_INPUT = 1u << 0,    /* leaf whose data is read at compute time   */
    MM_TENSOR_CONSTANT = 1u << 1, /* leaf kept resident by backends            */
    MM_TENSOR_OUTPUT = 1u << 2,   /* read back after compute                   */
    MM_TENSOR_BUFFER = 1u << 3,   /* leaf: a backend's persistent mm_buffer    */
};

#define MM_MAX_SRC 4
/* Largest tensor a graph or buffer accepts: beyond it a size is a mistake. */
#define MM_MAX_ELEMENTS (INT64_C(1) << 36)

struct mm_tensor {
    mm_dtype type;    /* what ops see: F32 or I32                              */
    mm_dtype storage; /* leaves: dtype of host data (F16/BF16 widen to F32)    */
    int32_t n_dims;
    int64_t ne[MM_MAX_DIMS];
    size_t nb[MM_MAX_DIMS]; /* byte strides (of `type`-sized elements)            */

    mm_op op;
    int32_t op_i[4];
    float op_f[4];
    mm_tensor *src[MM_MAX_SRC];

    mm_tensor *view_src; /* VIEW: the non-view tensor whose memory this aliases */
    size_t view_offs;    /* VIEW: byte offset into view_src                     */

    const void *host_data; /* leaves                                            */
    const mm_weight *weight; /* CONSTANT leaves from mm_graph_weight: the model's weight */
    mm_buffer *buffer;     /* BUFFER leaves                                     */
    uint32_t flags;
    int32_t index; /* position in the graph (creation order is topological)    */

    mm_tensor *readback; /* OUTPUT: non-view contiguous node to read back      */
    void *out_data;      /* OUTPUT: host copy after compute (graph owned)      */

    char name[64];
};

/* A backend's persistent memory (mm_buffer_init); graphs see it as a leaf. */
struct mm_buffer {
    mm_backend *backend;
    mm_dtype type;
    int32_t n_dims;
    int64_t ne[MM_MAX_DIMS];
    size_t nbytes;
    void *impl; /* cpu: the host memory; vulkan: its vk_buf */
};

struct mm_graph {
    mm_tensor **nodes;
    int32_t n_nodes, cap;
    mm_weights *weights; /* where its model weights are resident (NULL: streamed) */
    mm_status status;
    char error[512];
};

/* Execution plan shared by backends: which nodes must run and when each
 * tensor's memory can be reused. */
typedef struct mm_graph_plan {
    int32_t n;            /* number of nodes needed                          */
    mm_tensor **order;    /* needed non-leaf, non-view nodes in run order     */
    int32_t n_order;
    bool *needed;         /* by node index                                   */
    int32_t *last_use;    /* by node index: position in order[] of the last
                             reader (views forward to their source); -1 none;
                             INT32_MAX for outputs                          */
} mm_graph_plan;

mm_status mm_graph_plan_build(const mm_graph *g, mm_graph_plan *plan);
void mm_graph_plan_free(mm_graph_plan *plan);
/* Which F16/BF16 weights a backend may keep in their own storage: out[i] is
 * the leaf's storage where every reader takes the whole 2-D leaf (no view)
 * as a matmul's a, or, with get_rows, as an embedding table; MM_DTYPE_F32
 * (meaning "the tensor's own type") everywhere else. */
void mm_graph_plan_half_weights(const mm_graph *g, const mm_graph_plan *plan, bool get_rows, mm_dtype *out);

/* Ops that write into a region of a buffer leaf (their view_src) instead
 * of memory of their own; they run even when nothing reads them. */
static inline bool mm_op_writes_buffer(mm_op op) { return op == MM_OP_STORE || op == MM_OP_SET_ROWS; }

/* Storage root of a tensor: itself, or the tensor a view aliases. */
static inline mm_tensor *mm_tensor_root(mm_tensor *t) { return t->view_src ? t->view_src : t; }
static inline size_t mm_tensor_offset(const mm_tensor *t) { return t->view_src ? t->view_offs : 0; }
/* Bytes spanned by t's elements from its first one. */
size_t mm_tensor_span_bytes(const mm_tensor *t);
/* Bytes of a contiguous tensor of t's type and shape. */
size_t mm_tensor_nbytes(const mm_tensor *t);
bool mm_tensor_rows_contiguous(const mm_tensor *t); /* nb[0] == element size */
const char *mm_op_name(mm_op op);

/* Widens an F32/F16/BF16 leaf's host data into dst (contiguous F32). */
void mm_tensor_widen_to_f32(const mm_tensor *leaf, float *dst);

/* Records the first build error on g (later ones are its consequences),
 * sets the thread's error message and returns NULL, so builders can
 * `return mm_graph_fail(...)`. */
mm_tensor *mm_graph_fail(mm_graph *g, mm_status s, const char *fmt, ...) MM_PRINTF(3, 4);

/* Allocates the host copies of outputs; backends fill them. */
mm_status mm_graph_alloc_outputs(mm_graph *g);

#endif
