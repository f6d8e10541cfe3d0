/* test_runtime.h: in its own object, so that tests not linking libmm can
 * use the rest of test_util. */
#include "test_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_runtime_init(const char *backend, mm_runtime **rt)
{
    *rt = NULL;
    mm_runtime_params p = mm_runtime_default_params();
    p.backend.kind = strcmp(backend, "cpu") == 0 ? MM_BACKEND_CPU : MM_BACKEND_VULKAN;
    if (mm_runtime_init(&p, rt) == MM_OK)
        return 0;
    const char *req = getenv("MM_REQUIRE_VULKAN");
    if (p.backend.kind == MM_BACKEND_VULKAN && !(req && strcmp(req, "1") == 0)) {
        printf("SKIP: no Vulkan backend: %s\n", mm_error_message());
        return 77;
    }
    fprintf(stderr, "FAIL: mm_runtime_init (%s): %s\n", backend, mm_error_message());
    return 1;
}
