#include "backend_impl.h"
mm_status mm_backend_cpu_init(const mm_backend_params *p, mm_backend **out)
{
    (void)p; *out = NULL;
    return mm_error_set(MM_ERR_UNSUPPORTED, "cpu backend: not built yet");
}
