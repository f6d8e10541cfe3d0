/* Vulkan instance and device: which device, which queue, what limits. */
#include "vk_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vk_result_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
    }
}

/* Out-of-memory results map to MM_ERR_NOMEM, everything else to BACKEND. */
mm_status vk_fail(VkResult r, const char *what)
{
    mm_status s = r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? MM_ERR_NOMEM
                                                                                          : MM_ERR_BACKEND;
    return mm_error_set(s, "vulkan: %s failed (%s, %d)", what, vk_result_str(r), (int)r);
}

static bool has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(ext[i].extensionName, name))
            return true;
    return false;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)user;
    mm_log_level level = severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? MM_LOG_ERROR : MM_LOG_WARN;
    if (type == VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT) /* loader chatter, e.g. "adding layers" */
        level = MM_LOG_DEBUG;
    /* The test suite counts "vulkan validation:" messages as failures. */
    mm_log(level, "vulkan %s: %s", type & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT ? "validation" : "layer",
           data->pMessage);
    return VK_FALSE;
}

/* Creates the instance; with `debug`, routes validation-layer messages (when
 * a layer is enabled, e.g. VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation)
 * to mm_log instead of the layer's own stdout printing. */
static mm_status instance_create(VkInstance *out, VkDebugUtilsMessengerEXT *messenger, bool debug)
{
    *out = VK_NULL_HANDLE;
    uint32_t version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&version) != VK_SUCCESS || version < VK_API_VERSION_1_1)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: the loader supports Vulkan %u.%u; 1.1 is needed",
                            VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    uint32_t n_ext = 0;
    vkEnumerateInstanceExtensionProperties(NULL, &n_ext, NULL);
    VkExtensionProperties *ext = calloc(n_ext ? n_ext : 1, sizeof *ext);
    if (!ext)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    vkEnumerateInstanceExtensionProperties(NULL, &n_ext, ext);

    const char *names[2];
    uint32_t n_names = 0;
    VkInstanceCreateFlags flags = 0;
    /* MoltenVK and other portability drivers are listed only when asked for. */
    if (has_extension(ext, n_ext, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        names[n_names++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    bool use_debug = debug && has_extension(ext, n_ext, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (use_debug)
        names[n_names++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    free(ext);

    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = debug_message,
    };
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "mmrun",
        .applicationVersion = VK_MAKE_API_VERSION(0, MM_VERSION_MAJOR, MM_VERSION_MINOR, MM_VERSION_PATCH),
        .pEngineName = "libmm",
        .apiVersion = VK_API_VERSION_1_1,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = use_debug ? &dbg : NULL,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledExtensionCount = n_names,
        .ppEnabledExtensionNames = names,
    };
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r != VK_SUCCESS) {
        *out = VK_NULL_HANDLE;
        return r == VK_ERROR_INCOMPATIBLE_DRIVER
                   ? mm_error_set(MM_ERR_BACKEND, "vulkan: no Vulkan driver (ICD) found")
                   : vk_fail(r, "vkCreateInstance");
    }
    if (use_debug && messenger) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(*out, "vkCreateDebugUtilsMessengerEXT");
        if (create && create(*out, &dbg, NULL, messenger) != VK_SUCCESS)
            *messenger = VK_NULL_HANDLE;
    }
    return MM_OK;
}

static void instance_destroy(VkInstance instance, VkDebugUtilsMessengerEXT messenger)
{
    if (!instance)
        return;
    if (messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy)
            destroy(instance, messenger, NULL);
    }
    vkDestroyInstance(instance, NULL);
}

static mm_status list_devices(VkInstance instance, VkPhysicalDevice **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    VkResult r = vkEnumeratePhysicalDevices(instance, n, NULL);
    if (r != VK_SUCCESS)
        return vk_fail(r, "vkEnumeratePhysicalDevices");
    if (*n == 0)
        return MM_OK;
    *out = calloc(*n, sizeof **out);
    if (!*out)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    r = vkEnumeratePhysicalDevices(instance, n, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        return vk_fail(r, "vkEnumeratePhysicalDevices");
    }
    return MM_OK;
}

static const char *device_type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    default: return "other";
    }
}

static uint64_t device_local_bytes(VkPhysicalDevice pd)
{
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    uint64_t best = 0;
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mp.memoryHeaps[i].size > best)
            best = mp.memoryHeaps[i].size;
    return best;
}

mm_status mm_vulkan_devices(mm_device_info *out, int32_t cap, int32_t *n)
{
    if (!n || (cap > 0 && !out))
        return mm_error_set(MM_ERR_INVALID, "vulkan devices: NULL argument");
    *n = 0;
    VkInstance instance;
    if (instance_create(&instance, NULL, false) != MM_OK) {
        mm_error_clear(); /* no loader/driver: simply no devices */
        return MM_OK;
    }
    VkPhysicalDevice *pds;
    uint32_t count;
    mm_status s = list_devices(instance, &pds, &count);
    if (s == MM_OK) {
        for (uint32_t i = 0; i < count && (int32_t)i < cap; i++) {
            VkPhysicalDeviceProperties pr;
            vkGetPhysicalDeviceProperties(pds[i], &pr);
            memset(&out[i], 0, sizeof out[i]);
            snprintf(out[i].name, sizeof out[i].name, "%s", pr.deviceName);
            snprintf(out[i].type, sizeof out[i].type, "%s", device_type_name(pr.deviceType));
            out[i].api_version = pr.apiVersion;
            out[i].memory_bytes = device_local_bytes(pds[i]);
        }
        *n = (int32_t)count;
    }
    free(pds);
    instance_destroy(instance, VK_NULL_HANDLE);
    return s;
}

/* Preference when no index is given: discrete GPU, integrated, virtual,
 * other, and a CPU driver (lavapipe) last. */
static int device_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 0;
    default: return 1;
    }
}

/* params->vk_device, or for -1 the first device of the best rank. */
static mm_status pick_device(mm_vk *vk, int32_t want)
{
    VkPhysicalDevice *pds;
    uint32_t n;
    mm_status s = list_devices(vk->instance, &pds, &n);
    if (s != MM_OK)
        return s;
    if (n == 0)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: no Vulkan device found");
    int32_t pick = want;
    if (want >= (int32_t)n) {
        free(pds);
        return mm_error_set(MM_ERR_BACKEND, "vulkan: device %d requested but only %u found", want, n);
    }
    if (want < 0) {
        int best = -1;
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties pr;
            vkGetPhysicalDeviceProperties(pds[i], &pr);
            if (device_rank(pr.deviceType) > best) {
                best = device_rank(pr.deviceType);
                pick = (int32_t)i;
            }
        }
    }
    vk->phys = pds[pick];
    free(pds);
    return MM_OK;
}

/* A forced limit (mm_vk_limits, 0: none) replaces the device's where lower. */
static void cap32(uint32_t *v, uint32_t forced)
{
    if (forced && forced < *v)
        *v = forced;
}

static void cap64(VkDeviceSize *v, uint64_t forced)
{
    if (forced && forced < *v)
        *v = forced;
}

/* The device's limits (Vulkan 1.1 properties only once the device is known
 * to have 1.1), with the forced ones of params.vk_limits applied. */
static mm_status read_limits(mm_vk *vk)
{
    vkGetPhysicalDeviceProperties(vk->phys, &vk->props);
    if (vk->props.apiVersion < VK_API_VERSION_1_1)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: %s supports Vulkan %u.%u; 1.1 is needed", vk->props.deviceName,
                            VK_API_VERSION_MAJOR(vk->props.apiVersion), VK_API_VERSION_MINOR(vk->props.apiVersion));
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                                 .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(vk->phys, &p2);
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &vk->mem_props);

    const VkPhysicalDeviceLimits *lim = &vk->props.limits;
    const mm_vk_limits *forced = &vk->params.vk_limits;
    vk->max_range = lim->maxStorageBufferRange;
    /* 16 at least: vec4 views of a binding need 16-byte aligned starts */
    vk->align = lim->minStorageBufferOffsetAlignment > 16 ? lim->minStorageBufferOffsetAlignment : 16;
    if (forced->storage_align > vk->align) {
        if (forced->storage_align & (forced->storage_align - 1))
            return mm_error_set(MM_ERR_INVALID, "vulkan: a storage alignment of %u is not a power of two",
                                forced->storage_align);
        vk->align = forced->storage_align;
    }
    vk->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : ((VkDeviceSize)1 << 30);
    vk->max_shared = lim->maxComputeSharedMemorySize;
    vk->max_invocations = lim->maxComputeWorkGroupInvocations;
    vk->max_wg_size = lim->maxComputeWorkGroupSize[0];
    for (int i = 0; i < 3; i++)
        vk->max_groups[i] = lim->maxComputeWorkGroupCount[i];
    vk->max_storage_buffers = lim->maxPerStageDescriptorStorageBuffers;
    vk->max_sampled = lim->maxPerStageDescriptorSampledImages; /* texel buffers count here */
    cap64(&vk->max_range, forced->storage_range);
    cap64(&vk->max_alloc, forced->alloc_bytes);
    cap32(&vk->max_shared, forced->shared_bytes);
    cap32(&vk->max_invocations, forced->invocations);
    cap32(&vk->max_wg_size, forced->invocations);
    for (int i = 0; i < 3; i++)
        cap32(&vk->max_groups[i], forced->workgroups);
    cap32(&vk->max_storage_buffers, forced->storage_buffers);
    vk->submit_flops = forced->submit_flops ? forced->submit_flops : VK_SUBMIT_FLOPS;
    if (vk->max_range < 4 * vk->align || vk->max_invocations < 32 || vk->max_shared < 1024)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: %s: limits too small to run on (storage range %llu B, "
                            "%u invocations, %u B shared memory)", vk->props.deviceName,
                            (unsigned long long)vk->max_range, vk->max_invocations, vk->max_shared);
    vk->subgroup_size = sg.subgroupSize ? sg.subgroupSize : 1;
    const VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    vk->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && (sg.supportedOperations & need) == need;
    vk->cpu_device = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    /* Parameters, so that CI on lavapipe covers the paths real GPUs take. */
    if (vk->params.vk_subgroups == MM_VK_SUBGROUPS_OFF) /* shared-memory reductions */
        vk->subgroup_arith = false;
    if (vk->params.vk_kernels == MM_VK_KERNELS_GPU) /* storage-buffer reads, tiled matmul, matvec */
        vk->cpu_device = false;
    /* The CPU kernels read through texel-buffer views, each spanning two
     * windows so that any tensor up to one window fits in one view; they
     * reduce with subgroup operations. */
    VkDeviceSize view_bytes = (VkDeviceSize)lim->maxTexelBufferElements * 4;
    VkDeviceSize talign = lim->minTexelBufferOffsetAlignment > 16 ? lim->minTexelBufferOffsetAlignment : 16;
    vk->texel_window = view_bytes / 2 / talign * talign;
    if (vk->texel_window < ((VkDeviceSize)16 << 20) || !vk->subgroup_arith)
        vk->cpu_device = false;
    mm_log(MM_LOG_DEBUG, "vulkan: %s kernels", vk->cpu_device ? "CPU-driver (texel-read)" : "GPU");
    return MM_OK;
}

static bool device_has_extension(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL);
    VkExtensionProperties *ext = calloc(n ? n : 1, sizeof *ext);
    if (!ext)
        return false;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n, ext);
    bool found = has_extension(ext, n, name);
    free(ext);
    return found;
}

mm_status vk_device_open(mm_vk *vk, const mm_backend_params *p)
{
    vk->params = *p;
    mm_status s = instance_create(&vk->instance, &vk->messenger, true);
    if (s != MM_OK)
        return s;
    if ((s = pick_device(vk, p->vk_device)) != MM_OK)
        return s;
    if ((s = read_limits(vk)) != MM_OK)
        return s;

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (!qf)
        return mm_error_set(MM_ERR_NOMEM, "vulkan: out of memory");
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, qf);
    /* A compute-only family first: on GPUs it runs beside the desktop's
     * graphics work (and is often the async-compute engine); else the first
     * family with compute. */
    uint32_t family = UINT32_MAX;
    for (int pass = 0; pass < 2 && family == UINT32_MAX; pass++)
        for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
            if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && qf[i].queueCount > 0 &&
                (pass == 1 || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
                family = i;
    free(qf);
    if (family == UINT32_MAX)
        return mm_error_set(MM_ERR_BACKEND, "vulkan: %s has no compute queue", vk->props.deviceName);
    vk->queue_family = family;

    /* No optional features are needed; portability drivers require their
     * subset extension to be enabled when they expose it. */
    const char *ext[1];
    uint32_t n_ext = 0;
    if (device_has_extension(vk->phys, "VK_KHR_portability_subset"))
        ext[n_ext++] = "VK_KHR_portability_subset";
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = ext,
    };
    VkResult r = vkCreateDevice(vk->phys, &dci, NULL, &vk->dev);
    if (r != VK_SUCCESS) {
        vk->dev = VK_NULL_HANDLE;
        return vk_fail(r, "vkCreateDevice");
    }
    vkGetDeviceQueue(vk->dev, family, 0, &vk->queue);
    return MM_OK;
}

void vk_device_close(mm_vk *vk)
{
    if (vk->dev)
        vkDestroyDevice(vk->dev, NULL);
    instance_destroy(vk->instance, vk->messenger);
    vk->dev = VK_NULL_HANDLE;
    vk->instance = VK_NULL_HANDLE;
}
