/* libFuzzer target: arbitrary bytes as a safetensors file. The parser must
 * refuse or accept without reading outside the buffer; accepted tensors are
 * read end to end so ASan checks their bounds. Build: meson -Dfuzz=true with
 * CC=clang; seeds: tests/fuzz/make_corpus.py corpus; run:
 *   fuzz_safetensors -dict=tests/fuzz/safetensors.dict -max_total_time=60 corpus */
#include "model_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mm_log_set_level(MM_LOG_ERROR);
    mm_model *m = mm_model_new("fuzz");
    if (!m)
        return 0;
    if (mm_st_parse(m, "fuzz.safetensors", data, size, -1) == MM_OK && mm_model_finish(m) == MM_OK) {
        for (int32_t i = 0; i < mm_model_weight_count(m); i++) {
            const mm_weight *w = mm_model_weight_at(m, i);
            for (size_t j = 0; j < w->nbytes; j++)
                g_sink ^= ((const uint8_t *)w->data)[j];
            if (mm_model_weight_find(m, w->name) != w)
                __builtin_trap();
        }
    }
    mm_model_free(m);
    return 0;
}
