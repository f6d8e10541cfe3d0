/* The Vulkan mm_backend. A compute makes the graph's model weights resident
 * in its weight set (vk_weights.c), lays out inputs, streamed constants and intermediates in one reused
 * arena by liveness (plan->last_use), records the whole graph into one
 * command buffer and submits it once, then reads the outputs back. */
#include "vk_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena layout ------------------------------------------------------------------ */

/* First-fit allocator over [0, top) with a sorted free list; only offsets
 * are planned here, the memory is the arena buffer. */
typedef struct arena_plan {
    VkDeviceSize *off, *size; /* free blocks, by offset */
    int32_t n;
    VkDeviceSize top, peak, align;
} arena_plan;

static VkDeviceSize plan_alloc(arena_plan *p, VkDeviceSize size)
{
    size = vk_align_up(size, p->align);
    for (int32_t i = 0; i < p->n; i++) {
        if (p->size[i] < size)
            continue;
        VkDeviceSize off = p->off[i];
        p->off[i] += size;
        p->size[i] -= size;
        if (!p->size[i]) {
            memmove(p->off + i, p->off + i + 1, (size_t)(p->n - i - 1) * sizeof *p->off);
            memmove(p->size + i, p->size + i + 1, (size_t)(p->n - i - 1) * sizeof *p->size);
            p->n--;
        }
        return off;
    }
    VkDeviceSize off = p->top;
    if (p->n && p->off[p->n - 1] + p->size[p->n - 1] == p->top) { /* extend the free tail */
        off = p->off[p->n - 1];
        p->n--;
    }
    p->top = off + size;
    if (p->top > p->peak)
        p->peak = p->top;
    return off;
}

static void plan_free(arena_plan *p, VkDeviceSize off, VkDeviceSize size)
{
    size = vk_align_up(size, p->align);
    int32_t i = 0;
    while (i < p->n && p->off[i] < off)
        i++;
    memmove(p->off + i + 1, p->off + i, (size_t)(p->n - i) * sizeof *p->off);
    memmove(p->size + i + 1, p->size + i, (size_t)(p->n - i) * sizeof *p->size);
    p->off[i] = off;
    p->size[i] = size;
    p->n++;
    if (i + 1 < p->n && p->off[i] + p->size[i] == p->off[i + 1]) { /* merge with the next */
        p->size[i] += p->size[i + 1];
        memmove(p->off + i + 1, p->off + i + 2, (size_t)(p->n - i - 2) * sizeof *p->off);
        memmove(p->size + i + 1, p->size + i + 2, (size_t)(p->n - i - 2) * sizeof *p->size);
        p->n--;
    }
    if (i > 0 && p->off[i - 1] + p->size[i - 1] == p->off[i]) { /* and with the previous */
        p->size[i - 1] += p->size[i];
        memmove(p->off + i, p->off + i + 1, (size_t)(p->n - i - 1) * sizeof *p->off);
        memmove(p->size + i, p->size + i + 1, (size_t)(p->n - i - 1) * sizeof *p->size);
        p->n--;
    }
}

/* Assigns arena offsets to input leaves and every node of plan->order (plus
 * per-op scratch); memory is reused once plan->last_use says a tensor is dead. */
static mm_status plan_arena(mm_vk *vk, const mm_graph *g, const mm_graph_plan *plan, const bool *uploaded,
                            vk_loc *loc, VkDeviceSize *scratch, VkDeviceSize *total)
{
    int32_t n = g->n_nodes;
    arena_plan p = {.align = vk->align};
    p.off = malloc(((size_t)n + 2) * 2 * sizeof *p.off);
    int32_t *head = malloc(((size_t)plan->n_order + 1) * sizeof *head), *next = malloc((size_t)n * sizeof *next);
    if (!p.off || !head || !next) {
        free(p.off);
        free(head);
        free(next);
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory planning %d nodes", n);
    }
    p.size = p.off + n + 2;
    for (int32_t i = 0; i <= plan->n_order; i++)
        head[i] = -1;
    /* death lists: tensors whose last reader is order[pos] */
    for (int32_t i = 0; i < n; i++) {
        int32_t last = plan->last_use[i];
        if (last >= 0 && last < plan->n_order) {
            next[i] = head[last];
            head[last] = i;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        const mm_tensor *t = g->nodes[i];
        if (uploaded[i]) {
            loc[i].buf = &vk->arena;
            loc[i].off = plan_alloc(&p, mm_tensor_nbytes(t));
            if (plan->last_use[i] < 0)
                plan_free(&p, loc[i].off, mm_tensor_nbytes(t));
        }
    }
    for (int32_t pos = 0; pos < plan->n_order; pos++) {
        const mm_tensor *t = plan->order[pos];
        bool owns = !mm_op_writes_buffer(t->op); /* a store writes into its buffer */
        if (owns)
            loc[t->index] = (vk_loc){.buf = &vk->arena, .off = plan_alloc(&p, mm_tensor_nbytes(t))};
        VkDeviceSize sb = vk_op_scratch_bytes(t);
        scratch[pos] = sb ? plan_alloc(&p, sb) : 0;
        if (sb)
            plan_free(&p, scratch[pos], sb);
        if (owns && plan->last_use[t->index] < pos) /* never read: dead at once */
            plan_free(&p, loc[t->index].off, mm_tensor_nbytes(t));
        for (int32_t i = head[pos]; i >= 0; i = next[i])
            if (g->nodes[i]->op != MM_OP_NONE || uploaded[i])
                plan_free(&p, loc[i].off, mm_tensor_nbytes(g->nodes[i]));
    }
    *total = p.peak;
    free(p.off);
    free(head);
    free(next);
    return MM_OK;
}

/* ---- compute ------------------------------------------------------------------------- */

/* Inputs and streamed constants go into the arena: written in place when
 * it is mapped, else through staging copies. */
static void upload_leaf(const mm_tensor *t, const vk_loc *loc, void *dst)
{
    if (t->flags & MM_TENSOR_CONSTANT)
        vk_constant_fill(t, loc->half != VK_F32, dst);
    else
        memcpy(dst, t->host_data, mm_tensor_nbytes(t));
}

static VkDeviceSize upload_inputs(mm_vk *vk, const mm_graph *g, const bool *uploaded, const vk_loc *loc)
{
    VkDeviceSize soff = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const mm_tensor *t = g->nodes[i];
        if (!uploaded[i])
            continue;
        size_t bytes = mm_tensor_nbytes(t);
        if (vk->direct) {
            upload_leaf(t, &loc[i], vk->arena.map + loc[i].off);
            continue;
        }
        upload_leaf(t, &loc[i], vk->staging.map + soff);
        VkBufferCopy region = {soff, loc[i].off, bytes};
        vkCmdCopyBuffer(vk->cmd, vk->staging.buf, vk->arena.buf, 1, &region);
        soff += vk_align_up(bytes, vk->align);
    }
    if (soff)
        vk_cmd_barrier(vk->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    return soff;
}

/* Makes results visible to the host; on the staging path copies them out
 * first, each output at `*out_off` onwards in staging. */
static void record_readback(mm_vk *vk, const mm_graph *g, const vk_loc *loc, VkDeviceSize out_base,
                            VkDeviceSize *out_off)
{
    if (vk->direct) {
        vk_cmd_barrier(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        return;
    }
    vk_cmd_barrier(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                   VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_READ_BIT);
    VkDeviceSize soff = out_base;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const mm_tensor *t = g->nodes[i];
        if (!(t->flags & MM_TENSOR_OUTPUT))
            continue;
        out_off[i] = soff;
        VkBufferCopy region = {loc[t->readback->index].off, soff, mm_tensor_nbytes(t)};
        vkCmdCopyBuffer(vk->cmd, vk->arena.buf, vk->staging.buf, 1, &region);
        soff += vk_align_up(mm_tensor_nbytes(t), vk->align);
    }
    vk_cmd_barrier(vk->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_HOST_READ_BIT);
}

static VkDeviceSize io_bytes(const mm_vk *vk, const mm_graph *g, const bool *uploaded, VkDeviceSize *in)
{
    VkDeviceSize out = 0;
    *in = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const mm_tensor *t = g->nodes[i];
        if (uploaded[i])
            *in += vk_align_up(mm_tensor_nbytes(t), vk->align);
        if (t->flags & MM_TENSOR_OUTPUT)
            out += vk_align_up(mm_tensor_nbytes(t), vk->align);
    }
    return out;
}

/* An op's work in FLOPs, roughly: what bounds a submission. */
static double op_flops(const mm_tensor *t)
{
    double n = (double)mm_tensor_nelements(t);
    switch (t->op) {
    case MM_OP_MATMUL: return 2.0 * (double)t->src[0]->ne[0] * n; /* out {M,N,..}, K = a's ne0 */
    case MM_OP_ATTENTION: /* out {Dv,H,Tq,B}: q.k and p.v over Tk keys */
        return 2.0 * (double)(t->src[0]->ne[0] + t->src[2]->ne[0]) * (double)t->src[1]->ne[1] * n /
               (double)t->ne[0];
    case MM_OP_CONV1D: return 2.0 * (double)(t->src[1]->ne[0] * t->src[1]->ne[1]) * n;
    case MM_OP_PATCH_EMBED: return 2.0 * (double)(t->src[1]->ne[0] * t->src[1]->ne[1] * t->src[1]->ne[2]) * n;
    default: return 4.0 * n + (t->src[0] ? (double)mm_tensor_nelements(t->src[0]) : 0.0);
    }
}

/* Ends the submission recorded so far, waits for it and begins the next: a
 * long graph (a large encoder is ~2 TFLOP) as one submission could outrun
 * a driver's watchdog on a slow GPU and lose the device. */
static mm_status next_submission(mm_vk *vk, vk_rec *rec)
{
    mm_status s = vk_cmd_submit(vk);
    if (s == MM_OK)
        s = vk_cmd_begin(vk);
    if (s == MM_OK) {
        vk_cmd_barrier_after_previous(vk->cmd);
        rec->cmd = vk->cmd;
        rec->n_rd = rec->n_wr = 0;
        rec->n_submit++;
    }
    return s;
}

static mm_status record_graph(mm_vk *vk, const mm_graph_plan *plan, vk_loc *loc, const VkDeviceSize *scratch)
{
    vk_rec rec = {.vk = vk, .cmd = vk->cmd, .loc = loc, .n_submit = 1};
    double work = 0;
    for (int32_t pos = 0; pos < plan->n_order; pos++) {
        const mm_tensor *t = plan->order[pos];
        double w = op_flops(t);
        mm_status s = MM_OK;
        if (work > 0 && work + w > (double)vk->submit_flops) {
            s = next_submission(vk, &rec);
            work = 0;
        }
        work += w;
        rec.scratch = scratch[pos];
        if (s == MM_OK)
            s = vk_op_record(&rec, t);
        if (s != MM_OK)
            return mm_error_wrap(s, "vulkan: %s node %d%s%s", mm_op_name(t->op), t->index, t->name[0] ? " " : "",
                                 t->name);
    }
    mm_log(MM_LOG_DEBUG, "vulkan: %d nodes, %u dispatches, %u barriers, %u submissions, arena %.1f MiB", plan->n_order,
           rec.n_dispatch, rec.n_barrier, rec.n_submit, vk->arena.size / 1048576.0);
    return MM_OK;
}

static mm_status vk_compute(mm_backend *base, mm_graph *g, const mm_graph_plan *plan)
{
    mm_vk *vk = (mm_vk *)base;
    int32_t n = g->n_nodes;
    vk_loc *loc = calloc((size_t)n, sizeof *loc);
    VkDeviceSize *scratch = calloc((size_t)plan->n_order + 1, sizeof *scratch);
    VkDeviceSize *out_off = calloc((size_t)n, sizeof *out_off);
    mm_dtype *storage = malloc((size_t)n * sizeof *storage);
    bool *uploaded = malloc((size_t)n * sizeof *uploaded);
    mm_status s = loc && scratch && out_off && storage && uploaded ? MM_OK
                                                                   : mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    /* F16/BF16 weights that only matmuls read stay 16-bit on the device (half
     * the memory, half the bytes a decoding step streams); the texel-read
     * kernels of CPU devices read F32 only. */
    if (s == MM_OK) {
        mm_graph_plan_half_weights(g, plan, false, storage);
        s = vk_leaves_place(vk, g, plan, storage, loc, uploaded);
    }
    for (int32_t i = 0; i < n && s == MM_OK; i++)
        uploaded[i] = uploaded[i] || (plan->needed[i] && (g->nodes[i]->flags & MM_TENSOR_INPUT));
    VkDeviceSize arena = 0, in_bytes = 0, out_bytes = 0;
    if (s == MM_OK)
        s = plan_arena(vk, g, plan, uploaded, loc, scratch, &arena);
    if (s == MM_OK)
        s = vk_arena_reserve(vk, arena > vk->align ? arena : vk->align);
    if (s == MM_OK && !vk->direct) {
        out_bytes = io_bytes(vk, g, uploaded, &in_bytes);
        s = vk_staging_reserve(vk, in_bytes + out_bytes);
    }
    if (s == MM_OK) {
        vk_rec_reset(vk);
        s = vk_cmd_begin(vk);
    }
    if (s == MM_OK) {
        memset(vk->status.map, 0, 8);
        vk_cmd_barrier_after_previous(vk->cmd);
        upload_inputs(vk, g, uploaded, loc);
        s = record_graph(vk, plan, loc, scratch);
    }
    if (s == MM_OK) {
        record_readback(vk, g, loc, in_bytes, out_off);
        s = vk_cmd_submit(vk);
    } else {
        vk_cmd_abort(vk);
    }
    if (s == MM_OK && ((volatile uint32_t *)vk->status.map)[0])
        s = mm_error_set(MM_ERR_INVALID, "vulkan: get_rows: an id is out of range of the table");
    if (s == MM_OK && ((volatile uint32_t *)vk->status.map)[1])
        s = mm_error_set(MM_ERR_INVALID, "vulkan: set_rows: an id is out of range of the destination's rows");
    for (int32_t i = 0; i < n && s == MM_OK; i++) {
        mm_tensor *t = g->nodes[i];
        if (t->flags & MM_TENSOR_OUTPUT) {
            const uint8_t *src = vk->direct ? vk->arena.map + loc[t->readback->index].off : vk->staging.map + out_off[i];
            memcpy(t->out_data, src, mm_tensor_nbytes(t));
        }
    }
    free(loc);
    free(scratch);
    free(out_off);
    free(storage);
    free(uploaded);
    return s;
}

static uint64_t vk_work_bytes(const mm_backend *b)
{
    const mm_vk *vk = (const mm_vk *)b;
    return vk->arena.size + vk->staging.size;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static void vk_free(mm_backend *b)
{
    mm_vk *vk = (mm_vk *)b;
    if (vk->dev)
        vkDeviceWaitIdle(vk->dev);
    vk_dispatch_free(vk);
    vk_memory_free(vk);
    vk_device_close(vk);
    free(vk);
}

static const mm_backend_iface vk_iface = {
    .free = vk_free,
    .compute = vk_compute,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .buffer_read = vk_buffer_read,
    .buffer_write = vk_buffer_write,
    .weights_init = vk_weights_init,
    .weights_free = vk_weights_free,
    .weights_load = vk_weights_load,
    .work_bytes = vk_work_bytes,
};

mm_status mm_backend_vulkan_init(const mm_backend_params *p, mm_backend **out)
{
    *out = NULL;
    mm_backend_params def = mm_backend_default_params();
    if (!p)
        p = &def;
    mm_vk *vk = calloc(1, sizeof *vk);
    if (!vk)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    vk->base.iface = &vk_iface;
    vk->base.kind = MM_BACKEND_VULKAN;
    mm_status s = vk_device_open(vk, p);
    if (s == MM_OK)
        s = vk_memory_init(vk);
    if (s == MM_OK)
        s = vk_dispatch_init(vk);
    if (s != MM_OK) {
        vk_free(&vk->base);
        return s;
    }
    snprintf(vk->base.name, sizeof vk->base.name, "vulkan (%.140s)", vk->props.deviceName);
    vk->base.on_cpu = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    mm_log(MM_LOG_DEBUG, "vulkan: %s, %s memory, subgroup %u%s, shared %u B, storage range %.0f MiB", vk->props.deviceName,
           vk->direct ? "mapped" : "staged", vk->subgroup_size, vk->subgroup_arith ? " (arithmetic)" : "",
           vk->max_shared, vk->max_range / 1048576.0);
    *out = &vk->base;
    return MM_OK;
}
