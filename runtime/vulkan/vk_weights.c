/* Weight sets on the device (mm_weights): a model's weights, each in the
 * form graphs read it (F32, or its own 16-bit values for the matmul
 * kernels of GPUs), bump-allocated in blocks the set owns and frees.
 *
 * A slot is resident only once its copy has completed: on the staging
 * path the copies of one compute are recorded, then submitted and waited
 * for before the graph runs; if anything fails in between, the recorded
 * copies are thrown away and their slots go back to "reserved" (space
 * kept, contents not valid), to be filled again next time. */
#include "vk_impl.h"

#include <stdlib.h>
#include <string.h>

#define VK_BLOCK_BYTES ((VkDeviceSize)256 << 20)  /* largest block a lazy fill allocates */
#define VK_STAGING_BYTES ((VkDeviceSize)64 << 20) /* weight upload batch */

typedef enum slot_state { SLOT_EMPTY = 0, SLOT_RESERVED, SLOT_PENDING, SLOT_RESIDENT } slot_state;

typedef struct vk_slot {
    uint32_t block;
    uint8_t state;
    VkDeviceSize offset;
} vk_slot;

typedef struct vk_wset {
    vk_slot *slots; /* two per weight: [2i] widened to F32, [2i + 1] 16-bit */
    vk_buf **blocks;
    uint32_t n_blocks;
    VkDeviceSize block_used; /* in the last block */
} vk_wset;

mm_status vk_weights_init(mm_backend *b, mm_weights *w)
{
    vk_wset *ws = calloc(1, sizeof *ws);
    if (ws)
        ws->slots = calloc(2 * (size_t)(w->n_weights ? w->n_weights : 1), sizeof *ws->slots);
    if (!ws || !ws->slots) {
        free(ws);
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    }
    w->impl = ws;
    return MM_OK;
}

void vk_weights_free(mm_backend *b, mm_weights *w)
{
    mm_vk *vk = (mm_vk *)b;
    vk_wset *ws = w->impl;
    if (ws->n_blocks)
        vkDeviceWaitIdle(vk->dev);
    for (uint32_t i = 0; i < ws->n_blocks; i++) {
        vk_buf_destroy(vk, ws->blocks[i]);
        free(ws->blocks[i]);
    }
    free(ws->blocks);
    free(ws->slots);
    free(ws);
}

/* Space for `bytes` in the set; a new block holds at least `want` (what
 * this compute still needs to place), within the device's limits. */
static mm_status block_alloc(mm_vk *vk, mm_weights *w, VkDeviceSize bytes, VkDeviceSize want, vk_slot *slot)
{
    vk_wset *ws = w->impl;
    bytes = vk_align_up(bytes, vk->align);
    if (ws->n_blocks && ws->block_used + bytes <= ws->blocks[ws->n_blocks - 1]->size) {
        slot->block = ws->n_blocks - 1;
        slot->offset = ws->block_used;
        ws->block_used += bytes;
        return MM_OK;
    }
    if (bytes > vk->max_alloc)
        return mm_error_set(MM_ERR_UNSUPPORTED, "%llu bytes exceed the device's allocation limit of %llu",
                            (unsigned long long)bytes, (unsigned long long)vk->max_alloc);
    VkDeviceSize size = want > VK_BLOCK_BYTES ? VK_BLOCK_BYTES : want;
    if (size < bytes)
        size = bytes;
    if (size > vk->max_alloc)
        size = bytes;
    vk_buf **blocks = realloc(ws->blocks, (ws->n_blocks + 1) * sizeof *blocks);
    if (!blocks)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    ws->blocks = blocks;
    vk_buf *b = calloc(1, sizeof *b);
    if (!b)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    mm_status s = vk_buf_create(vk, b, size, VK_MEM_DEVICE);
    if (s != MM_OK) {
        free(b);
        return s;
    }
    ws->blocks[ws->n_blocks++] = b;
    mm_weights_account(w, (int64_t)b->size);
    slot->block = ws->n_blocks - 1;
    slot->offset = 0;
    ws->block_used = bytes;
    return MM_OK;
}

void vk_constant_fill(const mm_tensor *t, bool half, void *dst)
{
    if (half)
        memcpy(dst, t->host_data, (size_t)mm_tensor_nelements(t) * 2);
    else
        mm_tensor_widen_to_f32(t, dst);
}

/* Pending slots of the set become resident (their copies completed) or
 * go back to reserved (their copies were thrown away). */
static void settle_pending(mm_weights *w, bool completed)
{
    vk_wset *ws = w->impl;
    for (int64_t i = 0; i < 2 * (int64_t)w->n_weights; i++)
        if (ws->slots[i].state == SLOT_PENDING)
            ws->slots[i].state = completed ? SLOT_RESIDENT : SLOT_RESERVED;
}

/* Submits the queued staging copies and waits for them. */
static mm_status flush_uploads(mm_vk *vk, mm_weights *w)
{
    if (!vk->recording || !vk->staging_used)
        return MM_OK;
    /* make the copies visible to every later dispatch on this queue */
    vk_cmd_barrier(vk->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
    vk->staging_used = 0;
    mm_status s = vk_cmd_submit(vk);
    settle_pending(w, s == MM_OK);
    return s;
}

/* Fills a slot: directly when its block is mapped (resident at once), else
 * through staging copies batched into one submission per VK_STAGING_BYTES. */
static mm_status slot_upload(mm_vk *vk, mm_weights *w, const mm_tensor *t, bool half, vk_slot *slot)
{
    vk_buf *blk = ((vk_wset *)w->impl)->blocks[slot->block];
    VkDeviceSize bytes = (VkDeviceSize)mm_tensor_nelements(t) * (half ? 2 : 4);
    if (blk->map) {
        vk_constant_fill(t, half, blk->map + slot->offset);
        slot->state = SLOT_RESIDENT;
        return MM_OK;
    }
    mm_status s;
    if (vk->staging_used + bytes > vk->staging.size) {
        if ((s = flush_uploads(vk, w)) != MM_OK)
            return s;
        VkDeviceSize batch = VK_STAGING_BYTES < vk->max_alloc ? VK_STAGING_BYTES : vk->max_alloc;
        if ((s = vk_staging_reserve(vk, bytes > batch ? bytes : batch)) != MM_OK)
            return s;
    }
    if (!vk->recording) {
        if ((s = vk_cmd_begin(vk)) != MM_OK)
            return s;
        vk_cmd_barrier_after_previous(vk->cmd);
    }
    vk_constant_fill(t, half, vk->staging.map + vk->staging_used);
    VkBufferCopy region = {.srcOffset = vk->staging_used, .dstOffset = slot->offset, .size = bytes};
    vkCmdCopyBuffer(vk->cmd, vk->staging.buf, blk->buf, 1, &region);
    vk->staging_used += vk_align_up(bytes, vk->align);
    slot->state = SLOT_PENDING;
    return MM_OK;
}

static bool leaf_half(const mm_vk *vk, const mm_dtype *storage, int32_t i)
{
    /* the texel-read kernels of CPU devices read F32 only */
    return storage[i] != MM_DTYPE_F32 && !vk->cpu_device;
}

mm_status vk_leaves_place(mm_vk *vk, const mm_graph *g, const mm_graph_plan *plan, const mm_dtype *storage,
                          vk_loc *loc, bool *streamed)
{
    mm_weights *w = g->weights;
    vk_wset *ws = w ? w->impl : NULL;
    int32_t *slot_of = malloc((size_t)g->n_nodes * sizeof *slot_of);
    if (!slot_of)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    /* first pass: which leaves are where, and how much new space the set needs */
    mm_status s = MM_OK;
    VkDeviceSize want = 0;
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++) {
        const mm_tensor *t = g->nodes[i];
        slot_of[i] = -1;
        streamed[i] = false;
        if (!plan->needed[i] || t->op != MM_OP_NONE)
            continue;
        if (t->flags & MM_TENSOR_BUFFER) {
            if (t->buffer->backend != &vk->base)
                s = mm_error_set(MM_ERR_INVALID, "vulkan: buffer of backend %s used in a graph computed on %s",
                                 t->buffer->backend->name, vk->base.name);
            loc[i] = (vk_loc){.buf = t->buffer->impl};
        } else if (t->flags & MM_TENSOR_CONSTANT) {
            bool half = leaf_half(vk, storage, i);
            loc[i].half = !half ? VK_F32 : t->storage == MM_DTYPE_BF16 ? VK_BF16 : VK_F16;
            int32_t slot;
            if ((s = mm_weights_slot(w, t, &slot)) != MM_OK)
                break;
            if (slot < 0) {
                streamed[i] = true;
                continue;
            }
            slot_of[i] = 2 * slot + half;
            if (ws->slots[slot_of[i]].state == SLOT_EMPTY)
                want += vk_align_up((VkDeviceSize)mm_tensor_nelements(t) * (half ? 2 : 4), vk->align);
        }
    }
    /* second pass: reserve space and upload what the set lacks */
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++) {
        if (slot_of[i] < 0)
            continue;
        const mm_tensor *t = g->nodes[i];
        bool half = loc[i].half != VK_F32;
        vk_slot *sl = &ws->slots[slot_of[i]];
        if (sl->state == SLOT_EMPTY) {
            VkDeviceSize bytes = (VkDeviceSize)mm_tensor_nelements(t) * (half ? 2 : 4);
            if ((s = block_alloc(vk, w, bytes, want, sl)) != MM_OK) {
                mm_error_wrap(s, "weight %s", t->name);
                break;
            }
            sl->state = SLOT_RESERVED;
            want -= vk_align_up(bytes, vk->align);
        }
        if (sl->state == SLOT_RESERVED)
            s = slot_upload(vk, w, t, half, sl);
        /* a pending slot here was recorded earlier in this same pass (the
         * weight appears twice): its copy is already queued */
    }
    if (s == MM_OK && w)
        s = flush_uploads(vk, w);
    if (s != MM_OK) {
        vk_cmd_abort(vk);
        if (w)
            settle_pending(w, false);
    }
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++)
        if (slot_of[i] >= 0) {
            const vk_slot *sl = &ws->slots[slot_of[i]];
            loc[i].buf = ws->blocks[sl->block];
            loc[i].off = sl->offset;
        }
    free(slot_of);
    return s == MM_OK ? MM_OK : mm_error_wrap(s, "vulkan: placing the weights");
}

mm_status vk_weights_load(mm_backend *b, mm_weights *w, const mm_graph *g, const mm_graph_plan *plan)
{
    mm_vk *vk = (mm_vk *)b;
    int32_t n = g->n_nodes;
    vk_loc *loc = calloc((size_t)n + 1, sizeof *loc);
    bool *streamed = calloc((size_t)n + 1, sizeof *streamed);
    mm_dtype *storage = malloc(((size_t)n + 1) * sizeof *storage);
    mm_status s = loc && streamed && storage ? MM_OK : mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    if (s == MM_OK) {
        mm_graph_plan_half_weights(g, plan, false, storage);
        s = vk_leaves_place(vk, g, plan, storage, loc, streamed);
    }
    free(loc);
    free(streamed);
    free(storage);
    return s;
}
