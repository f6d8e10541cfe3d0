/* Internals of the CPU backend: the kernel calling convention shared by the
 * naive reference kernels (ops_ref.c) and the optimized ones (ops*.c). */
#ifndef MM_CPU_BACKEND_H
#define MM_CPU_BACKEND_H

#include "backend_impl.h"
#include "threadpool.h"

/* Per-backend execution context handed to optimized kernels. */
typedef struct mm_cpu_ctx {
    mm_threadpool *pool; /* NULL: run single-threaded                        */
    int32_t n_threads;
    void *work;          /* scratch memory shared by one kernel call         */
    size_t work_size;
} mm_cpu_ctx;

/* Arguments of one node's kernel. src[i] points at src i's first element
 * (view offsets applied) and is read with the src tensor's own nb[];
 * dst is a contiguous buffer of mm_tensor_nbytes(t) bytes. */
typedef struct mm_cpu_args {
    const mm_tensor *t;
    void *dst;
    const void *src[MM_MAX_SRC];
    /* F32, or F16/BF16 for a weight read in place (its own contiguous 2-D
     * leaf, and only as a matmul's a or a get_rows table: see cpu_backend.c) */
    mm_dtype src_storage[MM_MAX_SRC];
    mm_cpu_ctx *ctx;
} mm_cpu_args;

typedef mm_status (*mm_cpu_kernel)(const mm_cpu_args *a);

/* Naive, single-threaded, double-accumulating kernels: the oracle every
 * backend is tested against. One per op (NULL for leaves and views). */
extern const mm_cpu_kernel mm_cpu_ref_kernels[MM_OP_COUNT];
/* Optimized kernels; a NULL entry falls back to the reference one. */
extern const mm_cpu_kernel mm_cpu_opt_kernels[MM_OP_COUNT];

/* Scratch of at least `size` bytes (64-byte aligned), valid until the next
 * call; NULL (error set) when out of memory. */
void *mm_cpu_scratch(mm_cpu_ctx *ctx, size_t size);

/* Runs fn over [0, n) split into contiguous ranges, one per thread; stays
 * on the calling thread when n * cost (rough operations per item) is too
 * small to pay for waking workers. */
typedef void (*mm_cpu_range_fn)(void *arg, int64_t begin, int64_t end);
void mm_cpu_parallel(mm_cpu_ctx *ctx, int64_t n, double cost, mm_cpu_range_fn fn, void *arg);

/* Rows of an op: ne[1]*ne[2]*ne[3]; decomposes a row index. */
static inline void mm_cpu_row_index(const mm_tensor *t, int64_t r, int64_t *i1, int64_t *i2, int64_t *i3)
{
    *i1 = r % t->ne[1];
    *i2 = (r / t->ne[1]) % t->ne[2];
    *i3 = r / (t->ne[1] * t->ne[2]);
}

static inline const char *mm_cpu_at(const void *base, const mm_tensor *t, int64_t i0, int64_t i1, int64_t i2,
                                    int64_t i3)
{
    return (const char *)base + i0 * (int64_t)t->nb[0] + i1 * (int64_t)t->nb[1] + i2 * (int64_t)t->nb[2] +
           i3 * (int64_t)t->nb[3];
}

/* BLAS-backed kernels (ops_blas.c). */
mm_status mm_cpu_matmul(const mm_cpu_args *a);
mm_status mm_cpu_attention(const mm_cpu_args *a);
mm_status mm_cpu_conv1d(const mm_cpu_args *a);
mm_status mm_cpu_patch_embed(const mm_cpu_args *a);

/* Softmax of query row i (of nq) in place: d holds raw scores; applies
 * scale, the additive mask row (may be NULL) and the causal rule. */
void mm_cpu_softmax_row(float *d, int64_t n, float scale, const float *mask, bool causal, int64_t i, int64_t nq);
/* Row of a contiguous additive mask {nk, nq|1, h|1, b|1} for row (i1,i2,i3);
 * NULL when m is NULL. */
const float *mm_cpu_mask_row(const void *base, const mm_tensor *m, int64_t i1, int64_t i2, int64_t i3);

/* GELU variants in double precision (the reference definitions). */
double mm_cpu_gelu_ref(double x, int kind);

#endif
