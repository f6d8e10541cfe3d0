#include "backend_impl.h"
mm_status mm_backend_vulkan_init(const mm_backend_params *p, mm_backend **out)
{
    (void)p; *out = NULL;
    return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan backend: not built yet");
}
mm_status mm_vulkan_devices(mm_device_info *out, int32_t cap, int32_t *n)
{
    (void)out; (void)cap; *n = 0;
    return MM_OK;
}
