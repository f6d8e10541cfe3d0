/* Queries specific to the Vulkan backend. */
#ifndef MM_VULKAN_H
#define MM_VULKAN_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A Vulkan device visible to this process (for `mmrun info`); its index is
 * what mm_backend_params.vk_device takes. */
typedef struct mm_device_info {
    char name[256];
    char type[32];        /* "discrete", "integrated", "cpu", "virtual", "other" */
    uint32_t api_version; /* VK_MAKE_API_VERSION encoding                   */
    uint64_t memory_bytes; /* largest device-local heap                     */
} mm_device_info;

/* Fills up to `cap` entries, sets *n to the number found (0 if no loader). */
MM_API mm_status mm_vulkan_devices(mm_device_info *out, int32_t cap, int32_t *n);

#ifdef __cplusplus
}
#endif
#endif
