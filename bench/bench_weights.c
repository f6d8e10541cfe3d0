/* Random weights as a model folder: see bench_weights.h. */
#include "bench_weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static bool append(bench_weights *w, const char *text)
{
    size_t len = strlen(text);
    if (w->hlen + len + 1 > w->hcap) {
        size_t cap = (w->hlen + len + 1) * 2;
        char *h = realloc(w->header, cap);
        if (!h)
            return false;
        w->header = h;
        w->hcap = cap;
    }
    memcpy(w->header + w->hlen, text, len + 1);
    w->hlen += len;
    return true;
}

bool bench_weight(bench_weights *w, int n_dims, const int64_t *shape, const char *fmt, ...)
{
    char name[256], entry[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    size_t n = 1;
    int len = snprintf(entry, sizeof entry, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [", w->hlen ? ", " : "{", name);
    for (int i = 0; i < n_dims; i++) {
        n *= (size_t)shape[i];
        len += snprintf(entry + len, sizeof entry - (size_t)len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    snprintf(entry + len, sizeof entry - (size_t)len, "], \"data_offsets\": [%zu, %zu]}", w->n * 4, (w->n + n) * 4);
    if (!append(w, entry))
        return false;
    if (w->n + n > w->cap) {
        size_t cap = (w->n + n) * 2;
        float *d = realloc(w->data, cap * sizeof *d);
        if (!d)
            return false;
        w->data = d;
        w->cap = cap;
    }
    /* small values keep activations in range through many layers */
    for (size_t i = 0; i < n; i++) {
        w->seed ^= w->seed << 13;
        w->seed ^= w->seed >> 7;
        w->seed ^= w->seed << 17;
        w->data[w->n + i] = (float)((double)(w->seed >> 40) / 16777216.0 - 0.5) * 0.04f;
    }
    w->n += n;
    return true;
}

bool bench_weights_end(bench_weights *w) { return append(w, "}"); }

bool bench_write_file(const char *dir, const char *name, const void *a, size_t na, const void *b, size_t nb,
                      const void *c, size_t nc)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(a, 1, na, f) == na && fwrite(b, 1, nb, f) == nb && fwrite(c, 1, nc, f) == nc;
    return f && fclose(f) == 0 && ok;
}

bool bench_weights_write(bench_weights *w, const char *dir)
{
    uint64_t hlen = w->hlen; /* little-endian on every machine this runs on */
    bool ok = bench_write_file(dir, "model.safetensors", &hlen, 8, w->header, w->hlen, w->data, w->n * 4);
    free(w->header);
    free(w->data);
    *w = (bench_weights){0};
    return ok;
}
