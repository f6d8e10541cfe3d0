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

/* GELU variants in double precision (the reference definitions). */
double mm_cpu_gelu_ref(double x, int kind);

#endif
