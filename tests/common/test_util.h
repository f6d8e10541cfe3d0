/* Shared test helpers: locating ../shared, comparing tensors, random data. */
#ifndef MM_TEST_UTIL_H
#define MM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mm/mm.h"

/* Path of the shared folder (fixtures/, data/): $MM_SHARED_DIR, else the
 * build-time default (../shared beside the source root). */
const char *test_shared_dir(void);
/* Writes "<shared>/<rel>" into buf. Returns false (after skip() or fail(),
 * see below) when the file is absent. */
bool test_shared_path(char *buf, size_t size, const char *rel);
/* Skips the calling cmocka test when fixtures are absent, or fails it when
 * $MM_REQUIRE_FIXTURES=1 (CI). Call at the top of fixture tests. */
#define TEST_REQUIRE_SHARED(buf, rel)                                                                               \
    do {                                                                                                             \
        if (!test_shared_path((buf), sizeof(buf), (rel))) {                                                         \
            if (test_fixtures_required())                                                                           \
                fail_msg("fixture %s missing under %s (MM_REQUIRE_FIXTURES=1)", (rel), test_shared_dir());         \
            print_message("SKIP: %s missing under %s\n", (rel), test_shared_dir());                                \
            skip();                                                                                                  \
        }                                                                                                            \
    } while (0)
bool test_fixtures_required(void);

/* Elementwise |got - want| <= atol + rtol*|want|. On mismatch prints the
 * worst element and the count of failures and returns false. Always prints
 * one summary line with max abs error (so logs show real margins). */
bool test_allclose(const char *what, const float *got, const float *want, size_t n, double atol, double rtol);

/* Deterministic uniform random floats in [lo, hi). */
void test_fill_random(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Loads expected.safetensors tensor `name` from fixture folder `fixture`
 * (e.g. "whisper-tiny-random"); asserts dtype F32; returns a malloc'd copy and
 * its shape (outermost first). */
float *test_load_expected(const char *fixture, const char *name, int64_t shape[4], int32_t *n_dims);

/* Vulkan validation-layer findings (meson runs the Vulkan tests with
 * VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation where it is installed):
 * test_watch_validation() routes libmm's log through a counter of
 * "vulkan validation:" warnings and errors (printing everything as before);
 * test_validation_verdict(rc) turns a count above zero into a failure. A
 * test cannot fail from inside the driver's callback, hence the count. */
void test_watch_validation(void);
int test_validation_verdict(int rc);

#endif
