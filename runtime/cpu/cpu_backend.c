/* CPU backend: runs a graph plan node by node with either the optimized
 * kernels (mm_backend_cpu_init) or the naive reference ones
 * (mm_backend_cpu_reference_init, the test oracle).
 *
 * Memory: inputs are read in place; constants too (F32, and F16/BF16 read
 * in place by matmuls and embedding lookups, see plan_storage), except
 * F16/BF16 ones used otherwise, which are widened once into the graph's
 * weight set when they are its model's weights, else every compute (the
 * reference always does: the test oracle keeps no copies); every computed node gets a block from a pool
 * that is recycled as soon as plan->last_use says its last reader ran, and
 * kept between computes (blocks a compute did not touch are released).
 * Output nodes are computed straight into their graph-owned host copies. */
#include "cpu_backend.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MM_CPU_ALIGN 64

typedef struct block {
    void *ptr;
    size_t size;
    bool busy;
    bool touched; /* used during the current compute */
    uint8_t idle; /* computes since it was last used */
} block;

/* A block unused by this many computes in a row is freed: memory follows
 * the graphs in use (after an encoder, the decoder's), while graphs that
 * take turns (a beam search's reorder and step) keep theirs instead of
 * mapping fresh pages, which the kernel zeroes, on every call. */
#define POOL_KEEP_COMPUTES 8

typedef struct cpu_backend {
    mm_backend base;
    bool reference;
    mm_cpu_ctx ctx;

    block *blocks;
    int32_t n_blocks, cap_blocks;

    /* Per compute, by node index: data of the tensor's storage root, the
     * pool block holding it (-1 for leaves), and the dtype of that data. */
    void **node_data;
    int32_t *node_block;
    mm_dtype *node_storage;
    int32_t cap_nodes;
} cpu_backend;

void *mm_cpu_scratch(mm_cpu_ctx *ctx, size_t size)
{
    if (ctx->work && size <= ctx->work_size)
        return ctx->work;
    size = size ? (size + MM_CPU_ALIGN - 1) / MM_CPU_ALIGN * MM_CPU_ALIGN : MM_CPU_ALIGN;
    void *p = aligned_alloc(MM_CPU_ALIGN, size);
    if (!p) {
        mm_error_set(MM_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes of scratch", size);
        return NULL;
    }
    free(ctx->work);
    ctx->work = p;
    ctx->work_size = size;
    return p;
}

/* Below this many operations a job runs on the calling thread. */
#define MM_CPU_MIN_PARALLEL_WORK 32768.0

typedef struct range_job {
    int64_t n;
    mm_cpu_range_fn fn;
    void *arg;
} range_job;

static void range_task(void *p, int32_t ith, int32_t nth)
{
    const range_job *job = p;
    int64_t begin = job->n * ith / nth, end = job->n * (ith + 1) / nth;
    if (begin < end)
        job->fn(job->arg, begin, end);
}

void mm_cpu_parallel(mm_cpu_ctx *ctx, int64_t n, double cost, mm_cpu_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    int64_t nth = ctx && ctx->pool ? ctx->n_threads : 1;
    if (nth > n)
        nth = n;
    if ((double)n * cost < MM_CPU_MIN_PARALLEL_WORK)
        nth = 1;
    if (nth <= 1) {
        fn(arg, 0, n);
        return;
    }
    range_job job = {.n = n, .fn = fn, .arg = arg};
    mm_threadpool_run(ctx->pool, (int32_t)nth, range_task, &job);
}

/* ---- weight sets: widened copies of F16/BF16 weights ------------------------ */

/* A set's impl: by weight index, the F32 widening of that weight or NULL.
 * F32 weights, and 16-bit ones that only matmuls and embedding lookups
 * read, are used in place and cost the set nothing. */
static mm_status cpu_weights_init(mm_backend *b, mm_weights *w)
{
    w->impl = calloc(w->n_weights ? (size_t)w->n_weights : 1, sizeof(float *));
    return w->impl ? MM_OK : mm_error_set(MM_ERR_NOMEM, "cpu backend: out of memory");
}

static void cpu_weights_free(mm_backend *b, mm_weights *w)
{
    float **widened = w->impl;
    for (int32_t i = 0; i < w->n_weights; i++)
        free(widened[i]);
    free(widened);
}

static const float *weights_widened(mm_weights *w, int32_t slot, const mm_tensor *leaf)
{
    float **widened = w->impl;
    if (widened[slot])
        return widened[slot];
    int64_t n = mm_tensor_nelements(leaf);
    float *data = malloc((size_t)n * sizeof *data);
    if (!data) {
        mm_error_set(MM_ERR_NOMEM, "cpu backend: cannot widen weight %s (%lld values)", leaf->name, (long long)n);
        return NULL;
    }
    mm_tensor_widen_to_f32(leaf, data);
    widened[slot] = data;
    mm_weights_account(w, (int64_t)n * (int64_t)sizeof *data);
    return data;
}

/* ---- intermediate memory ------------------------------------------------------ */

/* Best fit among free blocks, else a new one. Returns the block index or -1. */
static int32_t pool_alloc(cpu_backend *cb, size_t size)
{
    int32_t best = -1;
    for (int32_t i = 0; i < cb->n_blocks; i++) {
        block *bl = &cb->blocks[i];
        if (!bl->busy && bl->size >= size && (best < 0 || bl->size < cb->blocks[best].size))
            best = i;
    }
    if (best < 0) {
        if (cb->n_blocks == cb->cap_blocks) {
            int32_t cap = cb->cap_blocks ? cb->cap_blocks * 2 : 32;
            block *bl = realloc(cb->blocks, (size_t)cap * sizeof *bl);
            if (!bl) {
                mm_error_set(MM_ERR_NOMEM, "cpu backend: out of memory");
                return -1;
            }
            cb->blocks = bl;
            cb->cap_blocks = cap;
        }
        size_t rounded = (size + MM_CPU_ALIGN - 1) / MM_CPU_ALIGN * MM_CPU_ALIGN;
        void *p = aligned_alloc(MM_CPU_ALIGN, rounded ? rounded : MM_CPU_ALIGN);
        if (!p) {
            mm_error_set(MM_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes", size);
            return -1;
        }
        best = cb->n_blocks++;
        cb->blocks[best] = (block){.ptr = p, .size = rounded};
    }
    cb->blocks[best].busy = true;
    cb->blocks[best].touched = true;
    return best;
}

/* Frees the blocks that no compute of the last POOL_KEEP_COMPUTES used. */
static void pool_trim(cpu_backend *cb)
{
    int32_t n = 0;
    for (int32_t i = 0; i < cb->n_blocks; i++) {
        block bl = cb->blocks[i];
        bl.idle = bl.touched ? 0 : (uint8_t)(bl.idle + 1);
        if (bl.idle >= POOL_KEEP_COMPUTES) {
            free(bl.ptr);
            continue;
        }
        bl.busy = bl.touched = false;
        cb->blocks[n++] = bl;
    }
    cb->n_blocks = n;
}

static void node_release(cpu_backend *cb, int32_t index)
{
    int32_t bi = cb->node_block[index];
    if (bi >= 0) {
        cb->blocks[bi].busy = false;
        cb->node_block[index] = -1;
    }
}

/* ---- compute ---------------------------------------------------------------- */

static mm_status ensure_node_arrays(cpu_backend *cb, int32_t n)
{
    if (n <= cb->cap_nodes)
        return MM_OK;
    void **d = realloc(cb->node_data, (size_t)n * sizeof *d);
    if (d)
        cb->node_data = d;
    int32_t *bl = realloc(cb->node_block, (size_t)n * sizeof *bl);
    if (bl)
        cb->node_block = bl;
    mm_dtype *st = realloc(cb->node_storage, (size_t)n * sizeof *st);
    if (st)
        cb->node_storage = st;
    if (!d || !bl || !st)
        return mm_error_set(MM_ERR_NOMEM, "cpu backend: out of memory for %d nodes", n);
    cb->cap_nodes = n;
    return MM_OK;
}

static const void *tensor_data(cpu_backend *cb, const mm_tensor *t)
{
    const char *base = cb->node_data[mm_tensor_root((mm_tensor *)t)->index];
    return base ? base + mm_tensor_offset(t) : NULL;
}

static mm_status run_node(cpu_backend *cb, mm_tensor *t, const mm_graph_plan *plan, int32_t pos)
{
    /* a node read back as an output is computed straight into the output's
     * host copy (set up by cpu_compute); others get a pool block */
    if (!cb->node_data[t->index] && !mm_op_writes_buffer(t->op)) { /* a store writes into its buffer */
        int32_t bi = pool_alloc(cb, mm_tensor_nbytes(t));
        if (bi < 0)
            return MM_ERR_NOMEM;
        cb->node_block[t->index] = bi;
        cb->node_data[t->index] = cb->blocks[bi].ptr;
    }

    mm_cpu_args args = {.t = t, .dst = mm_op_writes_buffer(t->op) ? (void *)tensor_data(cb, t) : cb->node_data[t->index],
                        .ctx = &cb->ctx};
    for (int s = 0; s < MM_MAX_SRC; s++)
        if (t->src[s]) {
            args.src[s] = tensor_data(cb, t->src[s]);
            args.src_storage[s] = cb->node_storage[mm_tensor_root(t->src[s])->index];
        }
    mm_cpu_kernel k = cb->reference ? NULL : mm_cpu_opt_kernels[t->op];
    if (!k)
        k = mm_cpu_ref_kernels[t->op];
    if (!k)
        return mm_error_set(MM_ERR_UNSUPPORTED, "cpu backend: no kernel for op %s", mm_op_name(t->op));
    mm_status s = k(&args);
    if (s != MM_OK)
        return s;

    for (int i = 0; i < MM_MAX_SRC; i++) {
        if (!t->src[i])
            continue;
        int32_t r = mm_tensor_root(t->src[i])->index;
        if (plan->last_use[r] == pos)
            node_release(cb, r);
    }
    if (plan->last_use[t->index] < pos)
        node_release(cb, t->index);
    return MM_OK;
}

/* F16/BF16 weights stay in their own storage (usually the model's memory
 * map: half the memory of a widened copy, and half the bytes a decoding
 * step streams) where matmuls and embedding lookups take them whole; any
 * other use widens them once (cached). The reference backend always
 * widens, so the tests compare the two paths. */
static void plan_storage(cpu_backend *cb, const mm_graph *g, const mm_graph_plan *plan)
{
    mm_graph_plan_half_weights(g, plan, true, cb->node_storage);
    if (cb->reference)
        for (int32_t i = 0; i < g->n_nodes; i++)
            cb->node_storage[i] = MM_DTYPE_F32;
}

/* Where a needed leaf's data is during this compute: inputs and F32 or
 * in-place 16-bit constants where they are; buffers in their memory;
 * other 16-bit constants widened, into the graph's weight set when they
 * are its model's weights (once), else into a pool block (every compute;
 * always so on the reference backend: no copy to get wrong). */
static mm_status leaf_data(cpu_backend *cb, const mm_graph *g, mm_tensor *t)
{
    const void *d = t->host_data;
    if (t->flags & MM_TENSOR_BUFFER) {
        if (t->buffer->backend != &cb->base)
            return mm_error_set(MM_ERR_INVALID, "cpu backend: buffer of backend %s used in a graph computed on %s",
                                t->buffer->backend->name, cb->base.name);
        d = t->buffer->impl;
    } else if (t->flags & MM_TENSOR_CONSTANT) {
        int32_t slot;
        mm_status s = mm_weights_slot(g->weights, t, &slot);
        if (s != MM_OK)
            return s;
        if (t->storage != MM_DTYPE_F32 && cb->node_storage[t->index] == MM_DTYPE_F32) {
            if (slot >= 0 && !cb->reference) {
                d = weights_widened(g->weights, slot, t);
            } else {
                int32_t bi = pool_alloc(cb, mm_tensor_nbytes(t));
                if (bi < 0)
                    return MM_ERR_NOMEM;
                mm_tensor_widen_to_f32(t, cb->blocks[bi].ptr);
                d = cb->blocks[bi].ptr;
            }
            if (!d)
                return mm_error_wrap(MM_ERR_NOMEM, "cpu backend");
        }
    }
    cb->node_data[t->index] = (void *)d;
    return MM_OK;
}

static mm_status cpu_weights_load(mm_backend *b, mm_weights *w, const mm_graph *g, const mm_graph_plan *plan)
{
    cpu_backend *cb = (cpu_backend *)b;
    mm_status s = ensure_node_arrays(cb, g->n_nodes);
    if (s != MM_OK)
        return s;
    plan_storage(cb, g, plan);
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++) {
        mm_tensor *t = g->nodes[i];
        int32_t slot;
        if (!plan->needed[i] || !(t->flags & MM_TENSOR_CONSTANT) || (s = mm_weights_slot(w, t, &slot)) != MM_OK)
            continue;
        if (slot >= 0 && !cb->reference && t->storage != MM_DTYPE_F32 && cb->node_storage[i] == MM_DTYPE_F32 &&
            !weights_widened(w, slot, t))
            s = MM_ERR_NOMEM;
    }
    return s;
}

static uint64_t cpu_work_bytes(const mm_backend *b)
{
    const cpu_backend *cb = (const cpu_backend *)b;
    uint64_t n = cb->ctx.work_size;
    for (int32_t i = 0; i < cb->n_blocks; i++)
        n += cb->blocks[i].size;
    return n;
}

static mm_status cpu_compute(mm_backend *b, mm_graph *g, const mm_graph_plan *plan)
{
    cpu_backend *cb = (cpu_backend *)b;
    mm_status s = ensure_node_arrays(cb, g->n_nodes);
    if (s != MM_OK)
        return s;
    plan_storage(cb, g, plan);

    for (int32_t i = 0; i < g->n_nodes; i++) {
        cb->node_block[i] = -1;
        cb->node_data[i] = NULL;
    }
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++)
        if (plan->needed[i] && g->nodes[i]->op == MM_OP_NONE)
            s = leaf_data(cb, g, g->nodes[i]);
    if (s != MM_OK) {
        pool_trim(cb);
        return s;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        mm_tensor *t = g->nodes[i];
        if ((t->flags & MM_TENSOR_OUTPUT) && t->readback->op != MM_OP_NONE)
            cb->node_data[t->readback->index] = t->out_data;
    }
    /* Kernels split BLAS work over the pool themselves (ops_blas.c): OpenBLAS
     * runs single-threaded inside each slice, restored afterwards for any
     * other user of the library in this process. */
    int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1)
        openblas_set_num_threads(1);
    for (int32_t pos = 0; pos < plan->n_order && s == MM_OK; pos++)
        s = run_node(cb, plan->order[pos], plan, pos);
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++) {
        mm_tensor *t = g->nodes[i];
        const void *d = (t->flags & MM_TENSOR_OUTPUT) ? cb->node_data[t->readback->index] : NULL;
        if (d && d != t->out_data)
            memcpy(t->out_data, d, mm_tensor_nbytes(t));
    }
    pool_trim(cb);
    if (blas_threads != 1)
        openblas_set_num_threads(blas_threads);
    return s;
}

static void cpu_free(mm_backend *b)
{
    cpu_backend *cb = (cpu_backend *)b;
    for (int32_t i = 0; i < cb->n_blocks; i++)
        free(cb->blocks[i].ptr);
    free(cb->blocks);
    free(cb->node_data);
    free(cb->node_block);
    free(cb->node_storage);
    free(cb->ctx.work);
    mm_threadpool_free(cb->ctx.pool);
    free(cb);
}

/* ---- persistent buffers: plain host memory ----------------------------------- */

static mm_status cpu_buffer_alloc(mm_backend *b, mm_buffer *buf)
{
    buf->impl = aligned_alloc(MM_CPU_ALIGN, (buf->nbytes + MM_CPU_ALIGN - 1) / MM_CPU_ALIGN * MM_CPU_ALIGN);
    if (!buf->impl)
        return mm_error_set(MM_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes", buf->nbytes);
    memset(buf->impl, 0, buf->nbytes);
    return MM_OK;
}

static void cpu_buffer_free(mm_backend *b, mm_buffer *buf)
{
    free(buf->impl);
}

static mm_status cpu_buffer_read(mm_backend *b, const mm_buffer *buf, void *dst)
{
    memcpy(dst, buf->impl, buf->nbytes);
    return MM_OK;
}

static mm_status cpu_buffer_write(mm_backend *b, mm_buffer *buf, const void *src)
{
    memcpy(buf->impl, src, buf->nbytes);
    return MM_OK;
}

static const mm_backend_iface cpu_iface = {
    .free = cpu_free,
    .compute = cpu_compute,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_read = cpu_buffer_read,
    .buffer_write = cpu_buffer_write,
    .weights_init = cpu_weights_init,
    .weights_free = cpu_weights_free,
    .weights_load = cpu_weights_load,
    .work_bytes = cpu_work_bytes,
};

static mm_status cpu_new(bool reference, int32_t n_threads, mm_backend **out)
{
    *out = NULL;
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb)
        return mm_error_set(MM_ERR_NOMEM, "cpu backend: out of memory");
    cb->base.iface = &cpu_iface;
    cb->base.kind = MM_BACKEND_CPU;
    cb->base.on_cpu = true;
    cb->reference = reference;
    cb->ctx.n_threads = n_threads;
    if (n_threads > 1 && !(cb->ctx.pool = mm_threadpool_init(n_threads))) {
        free(cb);
        return mm_error_wrap(MM_ERR_BACKEND, "cpu backend");
    }
    if (reference)
        snprintf(cb->base.name, sizeof cb->base.name, "cpu-reference");
    else
        snprintf(cb->base.name, sizeof cb->base.name, "cpu (%d thread%s)", n_threads, n_threads == 1 ? "" : "s");
    *out = &cb->base;
    return MM_OK;
}

mm_status mm_backend_cpu_init(const mm_backend_params *p, mm_backend **out)
{
    int32_t n = p ? p->n_threads : 0;
    if (n < 0)
        return mm_error_set(MM_ERR_INVALID, "cpu backend: %d threads", n);
    if (n == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int32_t)online : 1;
    }
    if (n > 1024)
        return mm_error_set(MM_ERR_INVALID, "cpu backend: %d threads (at most 1024)", n);
    const char *hint = mm_cpu_blas_coretype_hint();
    static atomic_flag said = ATOMIC_FLAG_INIT; /* once per process, as the cause is */
    if (hint && !getenv("OPENBLAS_CORETYPE") && !atomic_flag_test_and_set(&said))
        mm_log(MM_LOG_WARN,
               "OpenBLAS chose its %s kernels, narrower than this CPU runs: CPU matmuls are several times "
               "slower; set OPENBLAS_CORETYPE=%s before starting the program (mmrun does this itself)",
               openblas_get_corename(), hint);
    return cpu_new(false, n, out);
}

mm_status mm_backend_cpu_reference_init(mm_backend **out)
{
    return cpu_new(true, 1, out);
}
