/* Internals of the Vulkan backend, shared by its files:
 *   vk_device.c   instance, physical device choice, queue, limits, device list
 *   vk_memory.c   buffers, memory types, arena, staging, persistent
 *                 buffers (mm_buffer)
 *   vk_weights.c  weight sets (mm_weights): a model's weights on the device,
 *                 and the graph leaves' places for one compute
 *   vk_dispatch.c shaders, pipelines, descriptor sets, barriers, dispatches
 *   vk_ops.c      one recorder per graph op
 *   vk_backend.c  the mm_backend: init/free and compute (plan, record, submit) */
#ifndef MM_VK_IMPL_H
#define MM_VK_IMPL_H

#include <vulkan/vulkan.h>

#include "backend_impl.h"

/* Binding numbers: 0..3 are op inputs (storage buffers), 4 the result, 5 a
 * small status buffer (shader-detected errors). In texel-read shaders
 * (*_tex) inputs are uniform texel buffers: an R32F view at b and an
 * RGBA32F view at b + 6. Each shader's layout has only the bindings its
 * SPIR-V declares; optional inputs left unset point at the status buffer. */
#define VK_N_BINDINGS 6
#define VK_N_INPUTS 4
#define VK_BIND_DST 4
#define VK_BIND_STATUS 5
#define VK_BIND_VEC4 6 /* texel layout: RGBA32F view of input b at b + 6 */
#define VK_N_TEX_BINDINGS 10

/* llvmpipe (lavapipe) silently ends an invocation's loops once they have
 * run 65535 iterations in all (one counter per invocation, shared by every
 * loop). Kernels for CPU devices stay below this many; ops that could not
 * split their work fail with MM_ERR_UNSUPPORTED instead. */
#define VK_LOOP_BUDGET 60000u
#define VK_MAX_SPEC 8
#define VK_PUSH_BYTES 128
/* Work per queue submission unless mm_vk_limits.submit_flops says: a few
 * tens of ms on an integrated GPU, far below driver watchdogs (~2 s). */
#define VK_SUBMIT_FLOPS 20000000000ull

typedef enum vk_shader {
    VK_SH_COPY,
    VK_SH_UNARY,
    VK_SH_BINARY,
    VK_SH_GET_ROWS,
    VK_SH_SET_ROWS,
    VK_SH_IM2COL,
    VK_SH_ARGMAX,
    VK_SH_TOP_K,
    VK_SH_MATMUL,
    VK_SH_MATMUL_TEX,
    VK_SH_MATVEC,
    VK_SH_MATVEC_SG,
    VK_SH_LAYER_NORM,
    VK_SH_LAYER_NORM_SG,
    VK_SH_SOFTMAX,
    VK_SH_SOFTMAX_SG,
    VK_SH_ATTENTION,
    VK_SH_ATTENTION_SG,
    VK_SH_ATTENTION_TEX,
    VK_SH_UNARY_TEX,
    VK_SH_BINARY_TEX,
    VK_SH_LAYER_NORM_TEX,
    VK_SH_SOFTMAX_TEX,
    VK_SH_COUNT
} vk_shader;

typedef struct vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    uint8_t *map; /* host pointer when the memory is host-visible */
    /* texel mode: R32F and RGBA32F views of window w, covering bytes
     * [w * texel_window, (w + 2) * texel_window) */
    VkBufferView *v1, *v4;
    uint32_t n_views;
} vk_buf;

typedef enum vk_mem_kind {
    VK_MEM_DEVICE,  /* weights, intermediates: device-local (mapped when direct) */
    VK_MEM_STAGING, /* host-visible transfer buffer, cached if possible         */
    VK_MEM_HOST,    /* host-visible, coherent: the status buffer                 */
} vk_mem_kind;

typedef struct vk_pipeline {
    vk_shader shader;
    uint32_t n_spec;
    uint32_t spec[VK_MAX_SPEC];
    VkPipeline pipe;
} vk_pipeline;

typedef struct mm_vk {
    mm_backend base;
    mm_backend_params params; /* as given to mm_backend_init, environment applied */

    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;

    /* limits and choices derived from them */
    VkDeviceSize max_range; /* maxStorageBufferRange                         */
    VkDeviceSize align;     /* allocation/binding alignment (>= min offset)  */
    VkDeviceSize max_alloc; /* maxMemoryAllocationSize                       */
    uint32_t max_shared, max_invocations, max_wg_size, max_groups[3];
    uint32_t max_storage_buffers, max_sampled; /* descriptors per shader stage  */
    uint64_t submit_flops;  /* estimated work per queue submission            */
    bool lost;              /* VK_ERROR_DEVICE_LOST seen: no more work        */
    uint32_t subgroup_size;
    bool subgroup_arith; /* subgroup add/max in compute shaders           */
    bool cpu_device;     /* CPU-emulated (lavapipe): texel-read, barrier-free kernels */
    VkDeviceSize texel_window; /* cpu_device: bytes between texel view starts */
    bool direct;         /* device memory is host-mapped: no staging copies */
    uint32_t mem_device, mem_staging, mem_host; /* memory type indices      */

    /* pipelines and command recording */
    uint32_t bindings[VK_SH_COUNT];      /* bindings each shader declares (mask) */
    VkDescriptorSetLayout dsl[VK_SH_COUNT]; /* per shader, for the shaders this device runs */
    VkPipelineLayout layout[VK_SH_COUNT];
    VkDescriptorPool *pools;
    uint32_t n_pools, pool_cur;
    VkShaderModule modules[VK_SH_COUNT];
    vk_pipeline *pipes;
    uint32_t n_pipes, cap_pipes;
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording;

    /* memory */
    vk_buf arena;   /* intermediates and inputs of one compute, reused     */
    vk_buf staging; /* uploads/downloads when memory is not host-mapped    */
    vk_buf status;  /* shader error flags, host-visible                     */
    VkDeviceSize staging_used; /* weight uploads queued in staging           */
} mm_vk;

/* How values are stored on the device: F32 (or I32), or a weight kept in
 * its checkpoint's 16-bit dtype (read only by the matmul kernels). */
typedef enum vk_half { VK_F32 = 0, VK_F16 = 1, VK_BF16 = 2 } vk_half;

/* Where a tensor's root lives on the device during one compute. */
typedef struct vk_loc {
    vk_buf *buf;
    VkDeviceSize off;
    vk_half half;
} vk_loc;

/* A strided window of device memory (byte strides, ne[0] innermost). */
typedef struct vk_view {
    vk_buf *buf;
    VkDeviceSize off;
    int64_t ne[4];
    size_t nb[4];
    vk_half half;
} vk_view;

static inline size_t vk_view_esize(const vk_view *v) { return v->half ? 2 : 4; }

typedef struct vk_range {
    VkBuffer buf;
    VkDeviceSize lo, hi;
} vk_range;

#define VK_MAX_PENDING 32

/* State while recording one graph into the command buffer. */
typedef struct vk_rec {
    mm_vk *vk;
    VkCommandBuffer cmd;
    vk_loc *loc;          /* by node index (roots only)             */
    VkDeviceSize scratch; /* arena offset of the current op's scratch */
    /* buffer ranges read/written since the last barrier */
    vk_range rd[VK_MAX_PENDING], wr[VK_MAX_PENDING];
    int n_rd, n_wr;
    uint32_t n_dispatch, n_barrier, n_submit;
} vk_rec;

/* The descriptor bindings of one dispatch; `texel` (from the shader) makes
 * inputs texel-buffer views, whose element offsets count from the view. */
typedef struct vk_args {
    bool texel;
    VkDescriptorBufferInfo info[VK_N_BINDINGS]; /* also the range synced on */
    bool write[VK_N_BINDINGS];
    VkBufferView v1[VK_N_INPUTS], v4[VK_N_INPUTS];
} vk_args;

/* vk_device.c */
const char *vk_result_str(VkResult r);
mm_status vk_fail(VkResult r, const char *what);
mm_status vk_device_open(mm_vk *vk, const mm_backend_params *p);
void vk_device_close(mm_vk *vk);

/* vk_memory.c */
mm_status vk_memory_init(mm_vk *vk);
void vk_memory_free(mm_vk *vk);
mm_status vk_buf_create(mm_vk *vk, vk_buf *b, VkDeviceSize size, vk_mem_kind kind);
void vk_buf_destroy(mm_vk *vk, vk_buf *b);
mm_status vk_arena_reserve(mm_vk *vk, VkDeviceSize size);
mm_status vk_staging_reserve(mm_vk *vk, VkDeviceSize size);
static inline VkDeviceSize vk_align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }
/* Persistent buffers (mm_buffer): the backend's buffer_* entry points. */
mm_status vk_buffer_alloc(mm_backend *b, mm_buffer *buf);
void vk_buffer_free(mm_backend *b, mm_buffer *buf);
mm_status vk_buffer_read(mm_backend *b, const mm_buffer *buf, void *dst);
mm_status vk_buffer_write(mm_backend *b, mm_buffer *buf, const void *src);

/* vk_weights.c */
mm_status vk_weights_init(mm_backend *b, mm_weights *w);
void vk_weights_free(mm_backend *b, mm_weights *w);
mm_status vk_weights_load(mm_backend *b, mm_weights *w, const mm_graph *g, const mm_graph_plan *plan);
/* Places the needed leaves of g for one compute: buffers (checked to be
 * this backend's), model weights made resident in g's weight set (copies
 * completed before it returns), and every other constant marked in
 * `streamed` (uploaded with the inputs; loc[i].half says in which form).
 * storage[] is mm_graph_plan_half_weights' answer. */
mm_status vk_leaves_place(mm_vk *vk, const mm_graph *g, const mm_graph_plan *plan, const mm_dtype *storage,
                          vk_loc *loc, bool *streamed);
/* Writes a constant leaf as the device keeps it (widened to F32, or its
 * own 16-bit values when half) to dst. */
void vk_constant_fill(const mm_tensor *t, bool half, void *dst);

/* vk_dispatch.c */
mm_status vk_dispatch_init(mm_vk *vk);
void vk_dispatch_free(mm_vk *vk);
mm_status vk_cmd_begin(mm_vk *vk);
/* Ends, submits, waits for the fence. A lost device is an error that every
 * later vk_cmd_begin repeats: the backend does no more work. */
mm_status vk_cmd_submit(mm_vk *vk);
void vk_cmd_abort(mm_vk *vk);
void vk_rec_reset(mm_vk *vk); /* descriptor pools, before recording a graph */
void vk_rec_barrier(vk_rec *r);
/* A global memory barrier between the given stages and accesses. */
void vk_cmd_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                    VkAccessFlags dst_access);
/* First in every submission: makes earlier submissions' writes visible. */
void vk_cmd_barrier_after_previous(VkCommandBuffer cmd);
VkDeviceSize vk_view_span(const vk_view *v);
vk_view vk_view_of(const vk_rec *r, const mm_tensor *t);
vk_view vk_view_contiguous(vk_buf *buf, VkDeviceSize off, int32_t n_dims, const int64_t *ne);
vk_args vk_args_for(vk_shader sh); /* empty bindings for a dispatch of sh */
mm_status vk_arg(vk_rec *r, vk_args *a, int binding, const vk_view *v, bool write, uint32_t *elem_off);
mm_status vk_dispatch(vk_rec *r, const vk_args *a, vk_shader sh, const uint32_t *spec, uint32_t n_spec,
                      const void *push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);
/* Splits n workgroups over x (<= the device limit) and y (any count). */
mm_status vk_groups(const mm_vk *vk, uint64_t n, uint32_t *gx, uint32_t *gy);
uint32_t vk_reduce_wg(const mm_vk *vk, int64_t n); /* power-of-two workgroup size for a row of n */
uint32_t vk_lanes(const mm_vk *vk); /* CPU devices: invocations of one SIMD vector (subgroup size) */
uint32_t vk_max_wg(const mm_vk *vk); /* largest 1-D workgroup used, <= 256 */
uint32_t vk_max_wg_pow2(const mm_vk *vk); /* the largest power of two <= vk_max_wg */

/* vk_ops.c */
VkDeviceSize vk_op_scratch_bytes(const mm_tensor *t);
mm_status vk_op_record(vk_rec *r, const mm_tensor *t);

#endif
