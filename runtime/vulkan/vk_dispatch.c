/* Recording dispatches: shader modules and pipelines (created lazily, once
 * per shader and specialization), descriptor sets from per-compute pools,
 * the command buffer, and barriers placed only where a dispatch touches
 * memory an earlier, unsynchronised dispatch wrote (or reads what it writes). */
#include "vk_impl.h"

#include <stdlib.h>
#include <string.h>

#include "vk_shaders.h"

#define VK_SETS_PER_POOL 512

/* Which devices run a shader: every one, those with the GPU kernels (plain
 * or subgroup reductions), or CPU drivers (texel reads). */
typedef enum vk_family { FAM_ALL, FAM_GPU, FAM_GPU_PLAIN, FAM_GPU_SG, FAM_TEX } vk_family;

static const struct {
    const char *name;
    bool texel; /* inputs are texel-buffer views (the texel layout) */
    vk_family family;
} shaders[VK_SH_COUNT] = {
    [VK_SH_COPY] = {"copy", false, FAM_ALL},
    [VK_SH_UNARY] = {"unary", false, FAM_GPU},
    [VK_SH_BINARY] = {"binary", false, FAM_GPU},
    [VK_SH_GET_ROWS] = {"get_rows", false, FAM_ALL},
    [VK_SH_SET_ROWS] = {"set_rows", false, FAM_ALL},
    [VK_SH_IM2COL] = {"im2col", false, FAM_ALL},
    [VK_SH_ARGMAX] = {"argmax", false, FAM_ALL},
    [VK_SH_TOP_K] = {"top_k", false, FAM_ALL},
    [VK_SH_MATMUL] = {"matmul", false, FAM_GPU},
    [VK_SH_MATMUL_TEX] = {"matmul_tex", true, FAM_TEX},
    [VK_SH_MATVEC] = {"matvec", false, FAM_GPU_PLAIN},
    [VK_SH_MATVEC_SG] = {"matvec_sg", false, FAM_GPU_SG},
    [VK_SH_LAYER_NORM] = {"layer_norm", false, FAM_GPU_PLAIN},
    [VK_SH_LAYER_NORM_SG] = {"layer_norm_sg", false, FAM_GPU_SG},
    [VK_SH_SOFTMAX] = {"softmax", false, FAM_GPU_PLAIN},
    [VK_SH_SOFTMAX_SG] = {"softmax_sg", false, FAM_GPU_SG},
    [VK_SH_ATTENTION] = {"attention", false, FAM_GPU_PLAIN},
    [VK_SH_ATTENTION_SG] = {"attention_sg", false, FAM_GPU_SG},
    [VK_SH_ATTENTION_TEX] = {"attention_tex", true, FAM_TEX},
    [VK_SH_UNARY_TEX] = {"unary_tex", true, FAM_TEX},
    [VK_SH_BINARY_TEX] = {"binary_tex", true, FAM_TEX},
    [VK_SH_LAYER_NORM_TEX] = {"layer_norm_tex", true, FAM_TEX},
    [VK_SH_SOFTMAX_TEX] = {"softmax_tex", true, FAM_TEX},
};

static bool shader_used(const mm_vk *vk, vk_shader sh)
{
    switch (shaders[sh].family) {
    case FAM_ALL: return true;
    case FAM_GPU: return !vk->cpu_device;
    case FAM_GPU_PLAIN: return !vk->cpu_device && !vk->subgroup_arith;
    case FAM_GPU_SG: return !vk->cpu_device && vk->subgroup_arith;
    case FAM_TEX: return vk->cpu_device;
    }
    return false;
}

static const mm_shader_blob *find_blob(const char *name)
{
    for (const mm_shader_blob *b = mm_shaders; b->name; b++)
        if (!strcmp(b->name, name))
            return b;
    return NULL;
}

static mm_status create_pool(mm_vk *vk)
{
    VkDescriptorPool *pools = realloc(vk->pools, (vk->n_pools + 1) * sizeof *pools);
    if (!pools)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    vk->pools = pools;
    VkDescriptorPoolSize size[2] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_SETS_PER_POOL * VK_N_BINDINGS},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, VK_SETS_PER_POOL * 2 * VK_N_INPUTS},
    };
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = VK_SETS_PER_POOL,
        .poolSizeCount = vk->cpu_device ? 2 : 1,
        .pPoolSizes = size,
    };
    VkResult r = vkCreateDescriptorPool(vk->dev, &ci, NULL, &vk->pools[vk->n_pools]);
    if (r != VK_SUCCESS)
        return vk_fail(r, "vkCreateDescriptorPool");
    vk->n_pools++;
    return MM_OK;
}

/* The bindings a shader declares, from its SPIR-V (OpDecorate ... Binding n),
 * as a mask: each pipeline's layout holds just those, so a shader needing
 * four storage buffers runs on a device allowing four. */
static uint32_t spirv_bindings(const mm_shader_blob *blob)
{
    enum { OP_DECORATE = 71, DECORATION_BINDING = 33 };
    const uint32_t *w = blob->code, n = (uint32_t)(blob->size / 4);
    uint32_t mask = 0;
    for (uint32_t i = 5; i < n;) { /* after the 5-word header */
        uint32_t len = w[i] >> 16, op = w[i] & 0xffff;
        if (len == 0 || i + len > n)
            break;
        if (op == OP_DECORATE && len >= 4 && w[i + 2] == DECORATION_BINDING && w[i + 3] < 32)
            mask |= 1u << w[i + 3];
        i += len;
    }
    return mask;
}

/* A binding's descriptor type: inputs of texel shaders are texel buffers
 * (R32F at b, RGBA32F at b + VK_BIND_VEC4), everything else storage. */
static VkDescriptorType binding_type(bool texel, uint32_t b)
{
    return texel && (b < VK_N_INPUTS || b >= VK_BIND_VEC4) ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                           : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
}

/* Shader sh's set and pipeline layouts, from its bindings (vk->bindings[sh]). */
static mm_status create_layout(mm_vk *vk, vk_shader sh)
{
    VkDescriptorSetLayoutBinding bind[32];
    uint32_t n = 0;
    for (uint32_t b = 0; b < 32; b++)
        if (vk->bindings[sh] & (1u << b))
            bind[n++] = (VkDescriptorSetLayoutBinding){
                .binding = b,
                .descriptorType = binding_type(shaders[sh].texel, b),
                .descriptorCount = 1,
                .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
            };
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = n,
        .pBindings = bind,
    };
    VkResult r = vkCreateDescriptorSetLayout(vk->dev, &dci, NULL, &vk->dsl[sh]);
    if (r != VK_SUCCESS) {
        vk->dsl[sh] = VK_NULL_HANDLE;
        return vk_fail(r, "vkCreateDescriptorSetLayout");
    }
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES};
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &vk->dsl[sh],
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pcr,
    };
    if ((r = vkCreatePipelineLayout(vk->dev, &lci, NULL, &vk->layout[sh])) != VK_SUCCESS) {
        vk->layout[sh] = VK_NULL_HANDLE;
        return vk_fail(r, "vkCreatePipelineLayout");
    }
    return MM_OK;
}

/* Every shader this device would run fits its per-stage descriptor limits;
 * a device that cannot run one is refused here, naming it, rather than
 * failing in the middle of a model. */
static mm_status check_descriptor_limits(const mm_vk *vk, vk_shader sh)
{
    uint32_t storage = 0, texel = 0;
    for (uint32_t b = 0; b < 32; b++)
        if (vk->bindings[sh] & (1u << b)) {
            if (binding_type(shaders[sh].texel, b) == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER)
                storage++;
            else
                texel++;
        }
    if (storage > vk->max_storage_buffers)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: %s allows %u storage buffers per shader stage "
                            "(maxPerStageDescriptorStorageBuffers); shader %s needs %u",
                            vk->props.deviceName, vk->max_storage_buffers, shaders[sh].name, storage);
    if (texel > vk->max_sampled)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: %s allows %u texel buffers per shader stage "
                            "(maxPerStageDescriptorSampledImages); shader %s needs %u",
                            vk->props.deviceName, vk->max_sampled, shaders[sh].name, texel);
    return MM_OK;
}

mm_status vk_dispatch_init(mm_vk *vk)
{
    mm_status s = MM_OK;
    for (int i = 0; i < VK_SH_COUNT && s == MM_OK; i++) {
        const mm_shader_blob *blob = find_blob(shaders[i].name);
        if (!blob)
            return mm_error_set(MM_ERR_BACKEND, "vulkan: shader %s is not built in", shaders[i].name);
        vk->bindings[i] = spirv_bindings(blob);
        if (shader_used(vk, (vk_shader)i) && (s = check_descriptor_limits(vk, (vk_shader)i)) == MM_OK)
            s = create_layout(vk, (vk_shader)i);
    }
    if (s == MM_OK)
        s = create_pool(vk);
    if (s != MM_OK)
        return s;

    VkResult r;
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vk->queue_family,
    };
    if ((r = vkCreateCommandPool(vk->dev, &pci, NULL, &vk->cmd_pool)) != VK_SUCCESS)
        return vk_fail(r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if ((r = vkAllocateCommandBuffers(vk->dev, &cai, &vk->cmd)) != VK_SUCCESS)
        return vk_fail(r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(vk->dev, &fci, NULL, &vk->fence)) != VK_SUCCESS)
        return vk_fail(r, "vkCreateFence");
    return MM_OK;
}

void vk_dispatch_free(mm_vk *vk)
{
    if (!vk->dev)
        return;
    for (uint32_t i = 0; i < vk->n_pipes; i++)
        vkDestroyPipeline(vk->dev, vk->pipes[i].pipe, NULL);
    free(vk->pipes);
    vk->pipes = NULL;
    vk->n_pipes = 0;
    for (int i = 0; i < VK_SH_COUNT; i++)
        if (vk->modules[i])
            vkDestroyShaderModule(vk->dev, vk->modules[i], NULL);
    for (uint32_t i = 0; i < vk->n_pools; i++)
        vkDestroyDescriptorPool(vk->dev, vk->pools[i], NULL);
    free(vk->pools);
    vk->pools = NULL;
    vk->n_pools = 0;
    if (vk->fence)
        vkDestroyFence(vk->dev, vk->fence, NULL);
    if (vk->cmd_pool)
        vkDestroyCommandPool(vk->dev, vk->cmd_pool, NULL); /* frees vk->cmd */
    for (int i = 0; i < VK_SH_COUNT; i++) {
        if (vk->layout[i])
            vkDestroyPipelineLayout(vk->dev, vk->layout[i], NULL);
        if (vk->dsl[i])
            vkDestroyDescriptorSetLayout(vk->dev, vk->dsl[i], NULL);
    }
}

/* ---- command buffer ----------------------------------------------------------- */

void vk_cmd_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                       VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* At the start of every submission: what earlier ones wrote (shaders,
 * copies) is visible to this one, and its writes wait for their reads.
 * Fences order the submissions on the host but make nothing visible to
 * the device; persistent buffers are read a compute after they are
 * written, and the arena is rewritten each time. */
void vk_cmd_barrier_after_previous(VkCommandBuffer cmd)
{
    const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vk_cmd_barrier(cmd, st, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, st,
                   VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                   VK_ACCESS_TRANSFER_WRITE_BIT);
}

static mm_status device_lost(mm_vk *vk)
{
    vk->lost = true;
    return mm_error_set(MM_ERR_BACKEND, "vulkan: device lost on %s (the driver reset it: a fault, or work that "
                        "ran past its watchdog); this backend does no more work, free it and start another",
                        vk->props.deviceName);
}

mm_status vk_cmd_begin(mm_vk *vk)
{
    if (vk->lost)
        return device_lost(vk);
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = vkBeginCommandBuffer(vk->cmd, &bi);
    if (r != VK_SUCCESS)
        return vk_fail(r, "vkBeginCommandBuffer");
    vk->recording = true;
    return MM_OK;
}

void vk_cmd_abort(mm_vk *vk)
{
    if (!vk->recording)
        return;
    vkEndCommandBuffer(vk->cmd);
    vkResetCommandBuffer(vk->cmd, 0);
    vk->recording = false;
    vk->staging_used = 0;
}

mm_status vk_cmd_submit(mm_vk *vk)
{
    vk->recording = false;
    VkResult r = vkEndCommandBuffer(vk->cmd);
    if (r != VK_SUCCESS) {
        vkResetCommandBuffer(vk->cmd, 0);
        return vk_fail(r, "vkEndCommandBuffer");
    }
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &vk->cmd,
    };
    if ((r = vkQueueSubmit(vk->queue, 1, &si, vk->fence)) != VK_SUCCESS) {
        vkResetCommandBuffer(vk->cmd, 0);
        return r == VK_ERROR_DEVICE_LOST ? device_lost(vk) : vk_fail(r, "vkQueueSubmit");
    }
    r = vkWaitForFences(vk->dev, 1, &vk->fence, VK_TRUE, UINT64_MAX);
    if (r == VK_ERROR_DEVICE_LOST)
        return device_lost(vk); /* the fence and command buffer are left as they are */
    vkResetFences(vk->dev, 1, &vk->fence);
    vkResetCommandBuffer(vk->cmd, 0);
    return r == VK_SUCCESS ? MM_OK : vk_fail(r, "vkWaitForFences");
}

void vk_rec_reset(mm_vk *vk)
{
    for (uint32_t i = 0; i < vk->n_pools; i++)
        vkResetDescriptorPool(vk->dev, vk->pools[i], 0);
    vk->pool_cur = 0;
}

/* ---- pipelines ------------------------------------------------------------------- */

static mm_status get_pipeline(mm_vk *vk, vk_shader sh, const uint32_t *spec, uint32_t n_spec, VkPipeline *out)
{
    for (uint32_t i = 0; i < vk->n_pipes; i++) {
        const vk_pipeline *p = &vk->pipes[i];
        if (p->shader == sh && p->n_spec == n_spec && !memcmp(p->spec, spec, n_spec * sizeof *spec)) {
            *out = p->pipe;
            return MM_OK;
        }
    }
    VkResult r;
    if (!vk->modules[sh]) {
        const mm_shader_blob *blob = find_blob(shaders[sh].name);
        VkShaderModuleCreateInfo mci = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = blob->size,
            .pCode = blob->code,
        };
        if ((r = vkCreateShaderModule(vk->dev, &mci, NULL, &vk->modules[sh])) != VK_SUCCESS) {
            vk->modules[sh] = VK_NULL_HANDLE;
            return mm_error_wrap(vk_fail(r, "vkCreateShaderModule"), "vulkan: shader %s", shaders[sh].name);
        }
    }
    if (vk->n_pipes == vk->cap_pipes) {
        uint32_t cap = vk->cap_pipes ? vk->cap_pipes * 2 : 32;
        vk_pipeline *pipes = realloc(vk->pipes, cap * sizeof *pipes);
        if (!pipes)
            return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
        vk->pipes = pipes;
        vk->cap_pipes = cap;
    }
    VkSpecializationMapEntry entries[VK_MAX_SPEC];
    for (uint32_t i = 0; i < n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo si = {n_spec, entries, n_spec * 4, spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = vk->modules[sh],
            .pName = "main",
            .pSpecializationInfo = &si,
        },
        .flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT, /* vk_dispatch splits large grids */
        .layout = vk->layout[sh],
    };
    if (!vk->layout[sh]) /* not for this device (vk_dispatch_init) */
        return mm_error_set(MM_ERR_BACKEND, "vulkan: shader %s is not one this device runs", shaders[sh].name);
    vk_pipeline *p = &vk->pipes[vk->n_pipes];
    r = vkCreateComputePipelines(vk->dev, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipe);
    if (r != VK_SUCCESS)
        return mm_error_wrap(vk_fail(r, "vkCreateComputePipelines"), "vulkan: shader %s", shaders[sh].name);
    p->shader = sh;
    p->n_spec = n_spec;
    memset(p->spec, 0, sizeof p->spec);
    memcpy(p->spec, spec, n_spec * sizeof *spec);
    vk->n_pipes++;
    *out = p->pipe;
    return MM_OK;
}

static mm_status alloc_set(mm_vk *vk, VkDescriptorSetLayout dsl, VkDescriptorSet *set)
{
    for (;;) {
        if (vk->pool_cur == vk->n_pools) {
            mm_status s = create_pool(vk);
            if (s != MM_OK)
                return s;
        }
        VkDescriptorSetAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = vk->pools[vk->pool_cur],
            .descriptorSetCount = 1,
            .pSetLayouts = &dsl,
        };
        VkResult r = vkAllocateDescriptorSets(vk->dev, &ai, set);
        if (r == VK_SUCCESS)
            return MM_OK;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return vk_fail(r, "vkAllocateDescriptorSets");
        vk->pool_cur++; /* this pool is full: next one */
    }
}

/* ---- views and arguments --------------------------------------------------------- */

VkDeviceSize vk_view_span(const vk_view *v)
{
    VkDeviceSize span = vk_view_esize(v);
    for (int i = 0; i < 4; i++)
        span += (VkDeviceSize)(v->ne[i] - 1) * v->nb[i];
    return span;
}

vk_view vk_view_of(const vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *root = t->view_src ? t->view_src : t;
    const vk_loc *l = &r->loc[root->index];
    vk_view v = {.buf = l->buf, .off = l->off + mm_tensor_offset(t), .half = l->half};
    memcpy(v.ne, t->ne, sizeof v.ne);
    for (int i = 0; i < 4; i++) /* graph strides count F32s; a half weight is read whole */
        v.nb[i] = l->half ? t->nb[i] / 2 : t->nb[i];
    return v;
}

vk_view vk_view_contiguous(vk_buf *buf, VkDeviceSize off, int32_t n_dims, const int64_t *ne)
{
    vk_view v = {.buf = buf, .off = off, .ne = {1, 1, 1, 1}};
    for (int i = 0; i < n_dims; i++)
        v.ne[i] = ne[i];
    v.nb[0] = 4;
    for (int i = 1; i < 4; i++)
        v.nb[i] = v.nb[i - 1] * (size_t)v.ne[i - 1];
    return v;
}

vk_args vk_args_for(vk_shader sh)
{
    return (vk_args){.texel = shaders[sh].texel};
}

/* Texel inputs: the view whose window holds the tensor's start; element
 * offsets count from the view. */
static mm_status arg_texel(const mm_vk *vk, vk_args *a, int binding, const vk_view *v, VkDeviceSize span,
                           uint32_t *elem_off)
{
    uint32_t w = (uint32_t)(v->off / vk->texel_window);
    VkDeviceSize start = (VkDeviceSize)w * vk->texel_window;
    if (w >= v->buf->n_views || v->off + span > start + 2 * vk->texel_window)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: a tensor spanning %.1f MiB exceeds this device's texel buffer "
                            "range (maxTexelBufferElements)", span / 1048576.0);
    a->v1[binding] = v->buf->v1[w];
    a->v4[binding] = v->buf->v4[w];
    /* synced as reading the whole view: what a shader may reach through it
     * (barriers cost little on the CPU devices that use texel reads) */
    VkDeviceSize len = v->buf->size - start < 2 * vk->texel_window ? v->buf->size - start : 2 * vk->texel_window;
    a->info[binding] = (VkDescriptorBufferInfo){v->buf->buf, start, len};
    a->write[binding] = false;
    if (elem_off)
        *elem_off = (uint32_t)((v->off - start) / 4);
    return MM_OK;
}

mm_status vk_arg(vk_rec *r, vk_args *a, int binding, const vk_view *v, bool write, uint32_t *elem_off)
{
    mm_vk *vk = r->vk;
    VkDeviceSize span = vk_view_span(v), es = vk_view_esize(v);
    VkDeviceSize base = v->off - v->off % vk->align;
    if (v->off % es)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: tensor at a byte offset (%llu) that is not a multiple of %u",
                            (unsigned long long)v->off, (unsigned)es);
    for (int i = 0; i < 4; i++)
        if (v->ne[i] > 1 && v->nb[i] % es)
            return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: stride %zu is not a multiple of %u bytes", v->nb[i],
                                (unsigned)es);
    if (v->half && a->texel)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: a 16-bit weight bound to a texel-read kernel");
    if (a->texel && binding < VK_N_INPUTS)
        return arg_texel(vk, a, binding, v, span, elem_off);
    VkDeviceSize range = vk_align_up(v->off - base + span, 16); /* whole vec4s for vec4 aliases */
    if (range > v->buf->size - base)
        range = v->buf->size - base;
    if (range > vk->max_range)
        return mm_error_set(MM_ERR_UNSUPPORTED,
                            "vulkan: a tensor spanning %.1f MiB exceeds this device's storage buffer range "
                            "(maxStorageBufferRange %.1f MiB)",
                            span / 1048576.0, vk->max_range / 1048576.0);
    a->info[binding] = (VkDescriptorBufferInfo){v->buf->buf, base, range};
    a->write[binding] = write;
    if (elem_off)
        *elem_off = (uint32_t)((v->off - base) / es);
    return MM_OK;
}

/* ---- barriers --------------------------------------------------------------------- */

void vk_rec_barrier(vk_rec *r)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    vkCmdPipelineBarrier(r->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb,
                         0, NULL, 0, NULL);
    r->n_rd = r->n_wr = 0;
    r->n_barrier++;
}

static bool overlaps(const vk_range *list, int n, const vk_range *x)
{
    for (int i = 0; i < n; i++)
        if (list[i].buf == x->buf && list[i].lo < x->hi && x->lo < list[i].hi)
            return true;
    return false;
}

/* A barrier is needed before reading what a pending dispatch writes (RAW) and
 * before writing what a pending dispatch reads or writes (WAR, WAW). */
static void sync_args(vk_rec *r, const vk_args *a)
{
    vk_range rg[VK_N_BINDINGS];
    bool need = false;
    int n_rd = 0, n_wr = 0;
    for (int i = 0; i < VK_N_BINDINGS; i++) {
        if (!a->info[i].buffer)
            continue;
        rg[i] = (vk_range){a->info[i].buffer, a->info[i].offset, a->info[i].offset + a->info[i].range};
        need |= overlaps(r->wr, r->n_wr, &rg[i]) || (a->write[i] && overlaps(r->rd, r->n_rd, &rg[i]));
        n_rd += !a->write[i];
        n_wr += a->write[i];
    }
    if (need || r->n_rd + n_rd > VK_MAX_PENDING || r->n_wr + n_wr > VK_MAX_PENDING)
        vk_rec_barrier(r);
    for (int i = 0; i < VK_N_BINDINGS; i++) {
        if (!a->info[i].buffer)
            continue;
        if (a->write[i])
            r->wr[r->n_wr++] = rg[i];
        else
            r->rd[r->n_rd++] = rg[i];
    }
}

mm_status vk_groups(const mm_vk *vk, uint64_t n, uint32_t *gx, uint32_t *gy)
{
    if (n == 0)
        n = 1;
    uint64_t x = n < vk->max_groups[0] ? n : vk->max_groups[0];
    uint64_t y = (n + x - 1) / x; /* beyond max_groups[1], vk_dispatch splits y */
    if (y > UINT32_MAX || x * y > UINT32_MAX)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: %llu workgroups are too many for one dispatch",
                            (unsigned long long)n);
    *gx = (uint32_t)x;
    *gy = (uint32_t)y;
    return MM_OK;
}

/* The largest power of two <= n (n > 0). */
static uint32_t pow2_floor(uint32_t n)
{
    uint32_t p = 1;
    while (p <= n / 2)
        p *= 2;
    return p;
}

uint32_t vk_reduce_wg(const mm_vk *vk, int64_t n)
{
    /* the reduction trees need a power of two: never double past a cap
     * that is not one (192 must give 128, not 256) */
    const uint32_t cap = vk_max_wg_pow2(vk);
    if (vk->cpu_device) { /* one SIMD vector (no barriers) unless 3 passes over the
                              * row would exceed the loop budget */
        uint32_t wg = vk_lanes(vk);
        while (wg * 2 <= cap && 3 * (n / wg + 1) > VK_LOOP_BUDGET)
            wg *= 2;
        return wg;
    }
    uint32_t wg = 32 < cap ? 32 : cap;
    while (wg * 2 <= cap && (int64_t)wg < n)
        wg *= 2;
    return wg;
}

uint32_t vk_max_wg(const mm_vk *vk)
{
    uint32_t cap = vk->max_invocations < vk->max_wg_size ? vk->max_invocations : vk->max_wg_size;
    return cap < 256 ? cap : 256;
}

uint32_t vk_max_wg_pow2(const mm_vk *vk)
{
    return pow2_floor(vk_max_wg(vk));
}

uint32_t vk_lanes(const mm_vk *vk)
{
    uint32_t n = vk->subgroup_size < 64 ? vk->subgroup_size : 64;
    uint32_t cap = vk_max_wg_pow2(vk);
    return n < cap ? n : cap;
}

mm_status vk_dispatch(vk_rec *r, const vk_args *a, vk_shader sh, const uint32_t *spec, uint32_t n_spec,
                      const void *push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz)
{
    mm_vk *vk = r->vk;
    bool texel = shaders[sh].texel;
    if (texel != a->texel)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: %s bound with the wrong descriptor kind", shaders[sh].name);
    VkPipeline pipe = VK_NULL_HANDLE;
    VkDescriptorSet set = VK_NULL_HANDLE;
    mm_status s = get_pipeline(vk, sh, spec, n_spec, &pipe);
    if (s == MM_OK)
        s = alloc_set(vk, vk->dsl[sh], &set);
    if (s != MM_OK)
        return s;
    /* the shader's bindings; optional inputs left unset get the status buffer */
    VkDescriptorBufferInfo info[VK_N_BINDINGS];
    VkBufferView views[VK_N_TEX_BINDINGS];
    VkWriteDescriptorSet wr[VK_N_TEX_BINDINGS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < VK_N_TEX_BINDINGS; i++) {
        if (!(vk->bindings[sh] & (1u << i)))
            continue;
        if (!texel && i >= VK_N_BINDINGS)
            return mm_error_set(MM_ERR_BACKEND, "vulkan: shader %s uses binding %u", shaders[sh].name, i);
        wr[n] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = binding_type(texel, i),
        };
        if (wr[n].descriptorType == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER) {
            uint32_t in = i < VK_N_INPUTS ? i : i - VK_BIND_VEC4;
            bool set_in = a->info[in].buffer != VK_NULL_HANDLE;
            views[i] = i < VK_N_INPUTS ? (set_in ? a->v1[in] : vk->status.v1[0])
                                       : (set_in ? a->v4[in] : vk->status.v4[0]);
            wr[n].pTexelBufferView = &views[i];
        } else {
            info[i] = a->info[i].buffer ? a->info[i] : (VkDescriptorBufferInfo){vk->status.buf, 0, VK_WHOLE_SIZE};
            wr[n].pBufferInfo = &info[i];
        }
        n++;
    }
    vkUpdateDescriptorSets(vk->dev, n, wr, 0, NULL);
    sync_args(r, a);
    vkCmdBindPipeline(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->layout[sh], 0, 1, &set, 0, NULL);
    vkCmdPushConstants(r->cmd, vk->layout[sh], VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    /* Counts beyond the device's per-dimension limit go as several
     * dispatches with a base: gl_WorkGroupID counts from 0 over the whole
     * grid as the shaders expect (gl_NumWorkGroups is per piece, so
     * mm_group_linear's x is never split: vk_groups caps it). */
    const uint32_t g[3] = {gx, gy, gz};
    for (uint32_t z = 0; z < g[2]; z += vk->max_groups[2])
        for (uint32_t y = 0; y < g[1]; y += vk->max_groups[1])
            for (uint32_t x = 0; x < g[0]; x += vk->max_groups[0]) {
                uint32_t nx = g[0] - x < vk->max_groups[0] ? g[0] - x : vk->max_groups[0];
                uint32_t ny = g[1] - y < vk->max_groups[1] ? g[1] - y : vk->max_groups[1];
                uint32_t nz = g[2] - z < vk->max_groups[2] ? g[2] - z : vk->max_groups[2];
                if (x || y || z)
                    vkCmdDispatchBase(r->cmd, x, y, z, nx, ny, nz);
                else
                    vkCmdDispatch(r->cmd, nx, ny, nz);
                r->n_dispatch++;
            }
    return MM_OK;
}
