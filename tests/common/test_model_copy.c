/* Model folder copies for tests (test_model_copy.h). */
#include "test_model_copy.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *test_model_copy(const mm_model *m, const char *config_dir, mm_dtype dtype, bool round_f16,
                      test_weight_edit edit)
{
    assert_true(dtype == MM_DTYPE_F16 || dtype == MM_DTYPE_F32);
    char src[1200], path[1200];
    char *dir = strdup("/tmp/mm-test-model-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/config.json", config_dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(symlink(src, path), 0);

    size_t esize = mm_dtype_size(dtype);
    int32_t n = mm_model_weight_count(m);
    size_t hcap = 1 << 20, hlen = 0, off = 0, total = 0;
    char *header = malloc(hcap);
    assert_non_null(header);
    for (int32_t i = 0; i < n; i++)
        total += mm_model_weight_at(m, i)->nbytes / 4 * esize;
    uint8_t *data = malloc(total ? total : 1);
    assert_non_null(data);
    hlen += (size_t)snprintf(header + hlen, hcap - hlen, "{");
    for (int32_t i = 0; i < n; i++) {
        const mm_weight *w = mm_model_weight_at(m, i);
        assert_int_equal(w->dtype, MM_DTYPE_F32); /* the fixtures are F32 */
        size_t count = w->nbytes / 4, bytes = count * esize;
        for (size_t j = 0; j < count; j++) {
            float f = ((const float *)w->data)[j];
            if (round_f16)
                f = mm_f16_to_f32(mm_f32_to_f16(f));
            if (edit)
                f = edit(w->name, f);
            uint16_t h = mm_f32_to_f16(f);
            memcpy(data + off + j * esize, dtype == MM_DTYPE_F16 ? (const void *)&h : (const void *)&f, esize);
        }
        hlen += (size_t)snprintf(header + hlen, hcap - hlen, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [", i ? ", " : "",
                                 w->name, mm_dtype_name(dtype));
        for (int d = 0; d < w->n_dims; d++)
            hlen += (size_t)snprintf(header + hlen, hcap - hlen, "%s%lld", d ? ", " : "", (long long)w->shape[d]);
        hlen += (size_t)snprintf(header + hlen, hcap - hlen, "], \"data_offsets\": [%zu, %zu]}", off, off + bytes);
        off += bytes;
        assert_true(hlen < hcap - 256);
    }
    hlen += (size_t)snprintf(header + hlen, hcap - hlen, "}");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t len = hlen;
    assert_int_equal(fwrite(&len, 8, 1, f), 1);
    assert_int_equal(fwrite(header, 1, hlen, f), hlen);
    assert_int_equal(fwrite(data, 1, total, f), total);
    assert_int_equal(fclose(f), 0);
    free(header);
    free(data);
    return dir;
}

void test_model_copy_remove(char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}
