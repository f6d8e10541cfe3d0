/* The runtime a test binary runs on, from its <cpu|vulkan> argument. */
#ifndef MM_TEST_RUNTIME_H
#define MM_TEST_RUNTIME_H

#include "mm/runtime.h"

/* Starts a runtime on `backend` ("cpu" or "vulkan"; the Vulkan variants'
 * switches come from the environment). Returns 0 with *rt set; 77 (meson's
 * skip) when Vulkan cannot start, unless MM_REQUIRE_VULKAN=1; 1 on any
 * other failure (the reason printed). */
int test_runtime_init(const char *backend, mm_runtime **rt);

#endif
