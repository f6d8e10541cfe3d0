/* Device memory: buffer allocation by memory type, the intermediate arena,
 * the staging buffer, and persistent buffers (mm_buffer). Weight sets are
 * in vk_weights.c.
 *
 * Two paths, chosen once: on unified-memory devices (integrated GPUs, CPU
 * drivers such as lavapipe) whose largest device-local heap is also
 * host-visible and coherent, everything is mapped and written directly;
 * on discrete GPUs data moves through a host-visible (cached where
 * possible) staging buffer with copy commands, even where resizable BAR
 * makes all VRAM host-visible: CPU reads of uncached VRAM (outputs, buffer
 * reads) are far slower than a copy. MM_VK_FORCE_STAGING=1 forces the second
 * path for testing. */
#include "vk_impl.h"

#include <stdlib.h>
#include <string.h>


/* First memory type allowed by `bits` that has all `need` flags, preferring
 * one that also has all `want` flags and none of `avoid`; -1 if none. */
static int32_t find_type(const mm_vk *vk, uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags want,
                         VkMemoryPropertyFlags avoid)
{
    int32_t fallback = -1;
    for (uint32_t i = 0; i < vk->mem_props.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = vk->mem_props.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & need) != need)
            continue;
        if ((f & want) == want && !(f & avoid))
            return (int32_t)i;
        if (fallback < 0)
            fallback = (int32_t)i;
    }
    return fallback;
}

static VkBufferCreateInfo buffer_info(VkDeviceSize size)
{
    return (VkBufferCreateInfo){
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                 VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
}

/* Texel mode: R32F and RGBA32F views starting every texel_window bytes,
 * each two windows long (or to the end of the buffer). */
static mm_status create_views(mm_vk *vk, vk_buf *b)
{
    uint32_t n = (uint32_t)((b->size + vk->texel_window - 1) / vk->texel_window);
    b->v1 = calloc(2 * (size_t)n, sizeof *b->v1);
    if (!b->v1) {
        vk_buf_destroy(vk, b);
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    }
    b->v4 = b->v1 + n;
    b->n_views = n;
    for (uint32_t w = 0; w < n; w++) {
        VkDeviceSize start = w * vk->texel_window, len = b->size - start;
        if (len > 2 * vk->texel_window)
            len = 2 * vk->texel_window;
        VkBufferViewCreateInfo ci = {
            .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
            .buffer = b->buf,
            .format = VK_FORMAT_R32_SFLOAT,
            .offset = start,
            .range = len / 4 * 4,
        };
        VkResult r = vkCreateBufferView(vk->dev, &ci, NULL, &b->v1[w]);
        if (r == VK_SUCCESS && len >= 16) {
            ci.format = VK_FORMAT_R32G32B32A32_SFLOAT;
            ci.range = len / 16 * 16;
            r = vkCreateBufferView(vk->dev, &ci, NULL, &b->v4[w]);
        }
        if (r != VK_SUCCESS) {
            vk_buf_destroy(vk, b);
            return vk_fail(r, "vkCreateBufferView");
        }
    }
    return MM_OK;
}

mm_status vk_buf_create(mm_vk *vk, vk_buf *b, VkDeviceSize size, vk_mem_kind kind)
{
    memset(b, 0, sizeof *b);
    VkBufferCreateInfo bci = buffer_info(size);
    VkResult r = vkCreateBuffer(vk->dev, &bci, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        b->buf = VK_NULL_HANDLE;
        return vk_fail(r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->dev, b->buf, &req);
    uint32_t type = kind == VK_MEM_DEVICE ? vk->mem_device : kind == VK_MEM_STAGING ? vk->mem_staging : vk->mem_host;
    if (!(req.memoryTypeBits & (1u << type))) {
        vk_buf_destroy(vk, b);
        return mm_error_set(MM_ERR_BACKEND, "vulkan: buffer cannot use memory type %u", type);
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    r = vkAllocateMemory(vk->dev, &mai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        b->mem = VK_NULL_HANDLE;
        vk_buf_destroy(vk, b);
        return mm_error_wrap(vk_fail(r, "vkAllocateMemory"), "vulkan: allocating %.1f MiB", size / 1048576.0);
    }
    if ((r = vkBindBufferMemory(vk->dev, b->buf, b->mem, 0)) != VK_SUCCESS) {
        vk_buf_destroy(vk, b);
        return vk_fail(r, "vkBindBufferMemory");
    }
    /* device buffers are mapped only on the direct path: with staging every
     * transfer goes through copies, even where the memory could be mapped */
    bool host_visible = vk->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    if (host_visible && (kind != VK_MEM_DEVICE || vk->direct)) {
        void *map;
        if ((r = vkMapMemory(vk->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &map)) != VK_SUCCESS) {
            vk_buf_destroy(vk, b);
            return vk_fail(r, "vkMapMemory");
        }
        b->map = map;
    }
    b->size = size;
    return kind != VK_MEM_STAGING && vk->cpu_device ? create_views(vk, b) : MM_OK;
}

void vk_buf_destroy(mm_vk *vk, vk_buf *b)
{
    for (uint32_t i = 0; i < b->n_views; i++) {
        if (b->v1[i])
            vkDestroyBufferView(vk->dev, b->v1[i], NULL);
        if (b->v4[i])
            vkDestroyBufferView(vk->dev, b->v4[i], NULL);
    }
    free(b->v1);
    if (b->buf)
        vkDestroyBuffer(vk->dev, b->buf, NULL);
    if (b->mem)
        vkFreeMemory(vk->dev, b->mem, NULL); /* unmaps too */
    memset(b, 0, sizeof *b);
}

mm_status vk_memory_init(mm_vk *vk)
{
    /* The memory types a storage buffer may use, from a probe buffer. */
    VkBufferCreateInfo bci = buffer_info(256);
    VkBuffer probe;
    VkResult r = vkCreateBuffer(vk->dev, &bci, NULL, &probe);
    if (r != VK_SUCCESS)
        return vk_fail(r, "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->dev, probe, &req);
    vkDestroyBuffer(vk->dev, probe, NULL);
    uint32_t bits = req.memoryTypeBits;

    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t largest = UINT32_MAX;
    for (uint32_t i = 0; i < vk->mem_props.memoryHeapCount; i++)
        if ((vk->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            (largest == UINT32_MAX || vk->mem_props.memoryHeaps[i].size > vk->mem_props.memoryHeaps[largest].size))
            largest = i;
    int32_t mapped = find_type(vk, bits, DL | HV, 0, 0);
    int32_t local = find_type(vk, bits, DL, 0, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT); /* plain VRAM first */
    int32_t host = find_type(vk, bits, HV, 0, 0);
    int32_t staging = find_type(vk, bits, HV, VK_MEMORY_PROPERTY_HOST_CACHED_BIT, DL); /* system RAM, cached */
    if (host < 0)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: %s has no host-visible coherent memory", vk->props.deviceName);
    bool unified = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                   vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    vk->direct = unified && mapped >= 0 && vk->mem_props.memoryTypes[mapped].heapIndex == largest &&
                 vk->params.vk_memory != MM_VK_MEMORY_STAGING;
    vk->mem_device = (uint32_t)(vk->direct ? mapped : local >= 0 ? local : host);
    vk->mem_host = (uint32_t)host;
    vk->mem_staging = (uint32_t)staging;
    mm_status s = vk_buf_create(vk, &vk->status, 256, VK_MEM_HOST);
    if (s == MM_OK)
        memset(vk->status.map, 0, 256);
    return s;
}

void vk_memory_free(mm_vk *vk)
{
    if (!vk->dev)
        return;
    vk_buf_destroy(vk, &vk->arena);
    vk_buf_destroy(vk, &vk->staging);
    vk_buf_destroy(vk, &vk->status);
}

/* Grows `b` to at least `size` bytes; old contents are not kept. Only
 * called between computes, when the device no longer uses it. */
static mm_status reserve(mm_vk *vk, vk_buf *b, VkDeviceSize size, vk_mem_kind kind)
{
    if (b->buf && b->size >= size)
        return MM_OK;
    if (size > vk->max_alloc)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: the graph needs %.1f MiB of %s in one allocation; %s allows "
                            "%.1f MiB (maxMemoryAllocationSize)", size / 1048576.0,
                            kind == VK_MEM_STAGING ? "staging" : "intermediates", vk->props.deviceName,
                            vk->max_alloc / 1048576.0);
    vk_buf_destroy(vk, b);
    VkDeviceSize want = vk_align_up(size + size / 4, (VkDeviceSize)1 << 20); /* headroom: fewer regrowths */
    if (want > vk->max_alloc)
        want = size;
    return vk_buf_create(vk, b, want, kind);
}

mm_status vk_arena_reserve(mm_vk *vk, VkDeviceSize size)
{
    return reserve(vk, &vk->arena, size, VK_MEM_DEVICE);
}

mm_status vk_staging_reserve(mm_vk *vk, VkDeviceSize size)
{
    return reserve(vk, &vk->staging, size, VK_MEM_STAGING);
}

/* ---- persistent buffers: device memory, host access by map or staging ------------------------- */

typedef enum buffer_xfer { FILL_ZERO, TO_DEVICE, TO_HOST } buffer_xfer;

/* Runs one transfer command (fill, or a copy between vb and staging) and waits. */
static mm_status buffer_transfer(mm_vk *vk, vk_buf *vb, VkDeviceSize n, buffer_xfer kind)
{
    mm_status s = vk_cmd_begin(vk);
    if (s != MM_OK)
        return s;
    vk_cmd_barrier_after_previous(vk->cmd);
    VkBufferCopy region = {0, 0, n};
    if (kind == FILL_ZERO)
        vkCmdFillBuffer(vk->cmd, vb->buf, 0, VK_WHOLE_SIZE, 0);
    else if (kind == TO_DEVICE)
        vkCmdCopyBuffer(vk->cmd, vk->staging.buf, vb->buf, 1, &region);
    else
        vkCmdCopyBuffer(vk->cmd, vb->buf, vk->staging.buf, 1, &region);
    vk_cmd_barrier(vk->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT);
    return vk_cmd_submit(vk);
}

mm_status vk_buffer_alloc(mm_backend *b, mm_buffer *buf)
{
    mm_vk *vk = (mm_vk *)b;
    VkDeviceSize size = vk_align_up(buf->nbytes, vk->align); /* whole vec4 views */
    if (size > vk->max_alloc)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: %.1f MiB is more than one allocation may hold (%.1f MiB)",
                            size / 1048576.0, vk->max_alloc / 1048576.0);
    vk_buf *vb = calloc(1, sizeof *vb);
    if (!vb)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    mm_status s = vk_buf_create(vk, vb, size, VK_MEM_DEVICE);
    if (s == MM_OK && vb->map)
        memset(vb->map, 0, size);
    else if (s == MM_OK)
        s = buffer_transfer(vk, vb, size, FILL_ZERO);
    if (s != MM_OK) {
        vk_buf_destroy(vk, vb);
        free(vb);
        return s;
    }
    buf->impl = vb;
    return MM_OK;
}

void vk_buffer_free(mm_backend *b, mm_buffer *buf)
{
    mm_vk *vk = (mm_vk *)b;
    vkDeviceWaitIdle(vk->dev);
    vk_buf_destroy(vk, buf->impl);
    free(buf->impl);
}

mm_status vk_buffer_read(mm_backend *b, const mm_buffer *buf, void *dst)
{
    mm_vk *vk = (mm_vk *)b;
    vk_buf *vb = buf->impl;
    mm_status s = MM_OK;
    if (!vb->map && ((s = vk_staging_reserve(vk, buf->nbytes)) != MM_OK ||
                     (s = buffer_transfer(vk, vb, buf->nbytes, TO_HOST)) != MM_OK))
        return s;
    memcpy(dst, vb->map ? vb->map : vk->staging.map, buf->nbytes);
    return MM_OK;
}

mm_status vk_buffer_write(mm_backend *b, mm_buffer *buf, const void *src)
{
    mm_vk *vk = (mm_vk *)b;
    vk_buf *vb = buf->impl;
    if (vb->map) { /* the next submit makes host writes visible */
        memcpy(vb->map, src, buf->nbytes);
        return MM_OK;
    }
    mm_status s = vk_staging_reserve(vk, buf->nbytes);
    if (s != MM_OK)
        return s;
    memcpy(vk->staging.map, src, buf->nbytes);
    return buffer_transfer(vk, vb, buf->nbytes, TO_DEVICE);
}
