/* Random weights as a model folder: see bench_weights.h. */
#include "bench_weights.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


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

/* IEEE half of a small float (|x| < 1: no overflow; round to nearest even). */
static uint16_t to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xff, m = x & 0x7fffffu;
    if (e < 103) /* below half's smallest subnormal */
        return (uint16_t)sign;
    if (e < 113) { /* subnormal half */
        m |= 0x800000u;
        uint32_t shift = 126 - e, h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        h += rem > half || (rem == half && (h & 1));
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((e - 112) << 10) | (m >> 13), rem = m & 0x1fffu;
    h += rem > 0x1000u || (rem == 0x1000u && (h & 1));
    return (uint16_t)(sign | h);
}

bool bench_weight(bench_weights *w, int n_dims, const int64_t *shape, const char *fmt, ...)
{
    char name[256], entry[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    size_t n = 1, es = w->f16 ? 2 : 4;
    int len = snprintf(entry, sizeof entry, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [", w->hlen ? ", " : "{", name,
                       w->f16 ? "F16" : "F32");
    for (int i = 0; i < n_dims; i++) {
        n *= (size_t)shape[i];
        len += snprintf(entry + len, sizeof entry - (size_t)len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    snprintf(entry + len, sizeof entry - (size_t)len, "], \"data_offsets\": [%zu, %zu]}", w->n, w->n + n * es);
    if (!append(w, entry))
        return false;
    if (w->n + n * es > w->cap) {
        size_t cap = (w->n + n * es) * 2;
        unsigned char *d = realloc(w->data, cap);
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
        float v = (float)((double)(w->seed >> 40) / 16777216.0 - 0.5) * 0.04f;
        if (w->f16) {
            uint16_t h = to_half(v);
            memcpy(w->data + w->n + i * 2, &h, 2);
        } else {
            memcpy(w->data + w->n + i * 4, &v, 4);
        }
    }
    w->n += n * es;
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
    bool ok = bench_write_file(dir, "model.safetensors", &hlen, 8, w->header, w->hlen, w->data, w->n);
    free(w->header);
    free(w->data);
    *w = (bench_weights){0};
    return ok;
}

bool bench_copy_file(const char *dir_from, const char *dir_to, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir_from, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 65536 > cap) {
            char *b = realloc(buf, cap = (len + 65536) * 2);
            if (!b)
                break;
            buf = b;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    bool ok = !ferror(f) && buf;
    fclose(f);
    ok = ok && bench_write_file(dir_to, name, buf, len, "", 0, "", 0);
    free(buf);
    return ok;
}

void bench_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[768];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* ---- checkpoints' tensors ------------------------------------------------------------ */

/* A Whisper layer's attention ("self_attn", "encoder_attn"): k_proj has no bias. */
static bool whisper_attn(bench_weights *w, const char *p, int l, const char *kind, int64_t d)
{
    return bench_weight(w, SHAPE(d, d), "%s.%d.%s.q_proj.weight", p, l, kind) &&
           bench_weight(w, SHAPE(d), "%s.%d.%s.q_proj.bias", p, l, kind) &&
           bench_weight(w, SHAPE(d, d), "%s.%d.%s.k_proj.weight", p, l, kind) &&
           bench_weight(w, SHAPE(d, d), "%s.%d.%s.v_proj.weight", p, l, kind) &&
           bench_weight(w, SHAPE(d), "%s.%d.%s.v_proj.bias", p, l, kind) &&
           bench_weight(w, SHAPE(d, d), "%s.%d.%s.out_proj.weight", p, l, kind) &&
           bench_weight(w, SHAPE(d), "%s.%d.%s.out_proj.bias", p, l, kind) &&
           bench_weight(w, SHAPE(d), "%s.%d.%s_layer_norm.weight", p, l, kind) &&
           bench_weight(w, SHAPE(d), "%s.%d.%s_layer_norm.bias", p, l, kind);
}

static bool whisper_ffn(bench_weights *w, const char *p, int l, int64_t d, int64_t ff)
{
    return bench_weight(w, SHAPE(ff, d), "%s.%d.fc1.weight", p, l) && bench_weight(w, SHAPE(ff), "%s.%d.fc1.bias", p, l) &&
           bench_weight(w, SHAPE(d, ff), "%s.%d.fc2.weight", p, l) && bench_weight(w, SHAPE(d), "%s.%d.fc2.bias", p, l) &&
           bench_weight(w, SHAPE(d), "%s.%d.final_layer_norm.weight", p, l) &&
           bench_weight(w, SHAPE(d), "%s.%d.final_layer_norm.bias", p, l);
}

bool bench_whisper_encoder(bench_weights *w, int64_t d, int layers, int64_t ff)
{
    bool ok = bench_weight(w, SHAPE(d, 80, 3), "model.encoder.conv1.weight") && bench_weight(w, SHAPE(d), "model.encoder.conv1.bias") &&
              bench_weight(w, SHAPE(d, d, 3), "model.encoder.conv2.weight") && bench_weight(w, SHAPE(d), "model.encoder.conv2.bias") &&
              bench_weight(w, SHAPE(1500, d), "model.encoder.embed_positions.weight") &&
              bench_weight(w, SHAPE(d), "model.encoder.layer_norm.weight") && bench_weight(w, SHAPE(d), "model.encoder.layer_norm.bias");
    for (int l = 0; ok && l < layers; l++)
        ok = whisper_attn(w, "model.encoder.layers", l, "self_attn", d) && whisper_ffn(w, "model.encoder.layers", l, d, ff);
    return ok;
}

bool bench_whisper_decoder(bench_weights *w, int64_t d, int layers, int64_t ff, int64_t n_vocab, int64_t n_ctx)
{
    bool ok = bench_weight(w, SHAPE(n_vocab, d), "model.decoder.embed_tokens.weight") &&
              bench_weight(w, SHAPE(n_ctx, d), "model.decoder.embed_positions.weight") &&
              bench_weight(w, SHAPE(d), "model.decoder.layer_norm.weight") &&
              bench_weight(w, SHAPE(d), "model.decoder.layer_norm.bias");
    for (int l = 0; ok && l < layers; l++)
        ok = whisper_attn(w, "model.decoder.layers", l, "self_attn", d) &&
             whisper_attn(w, "model.decoder.layers", l, "encoder_attn", d) && whisper_ffn(w, "model.decoder.layers", l, d, ff);
    return ok;
}

bool bench_vit(bench_weights *w, const char *prefix, int64_t d, int layers, int64_t ff)
{
    const char *p = prefix;
    bool ok = bench_weight(w, SHAPE(d, 3, 16, 16), "%sembeddings.patch_embeddings.projection.weight", p) &&
              bench_weight(w, SHAPE(d), "%sembeddings.patch_embeddings.projection.bias", p) &&
              bench_weight(w, SHAPE(1, 1, d), "%sembeddings.cls_token", p) &&
              bench_weight(w, SHAPE(1, 197, d), "%sembeddings.position_embeddings", p) &&
              bench_weight(w, SHAPE(d), "%slayernorm.weight", p) && bench_weight(w, SHAPE(d), "%slayernorm.bias", p);
    for (int l = 0; ok && l < layers; l++) {
        static const char *const proj[] = {"attention.attention.query", "attention.attention.key",
                                           "attention.attention.value", "attention.output.dense"};
        for (int i = 0; ok && i < 4; i++)
            ok = bench_weight(w, SHAPE(d, d), "%sencoder.layer.%d.%s.weight", p, l, proj[i]) &&
                 bench_weight(w, SHAPE(d), "%sencoder.layer.%d.%s.bias", p, l, proj[i]);
        ok = ok && bench_weight(w, SHAPE(d), "%sencoder.layer.%d.layernorm_before.weight", p, l) &&
             bench_weight(w, SHAPE(d), "%sencoder.layer.%d.layernorm_before.bias", p, l) &&
             bench_weight(w, SHAPE(d), "%sencoder.layer.%d.layernorm_after.weight", p, l) &&
             bench_weight(w, SHAPE(d), "%sencoder.layer.%d.layernorm_after.bias", p, l) &&
             bench_weight(w, SHAPE(ff, d), "%sencoder.layer.%d.intermediate.dense.weight", p, l) &&
             bench_weight(w, SHAPE(ff), "%sencoder.layer.%d.intermediate.dense.bias", p, l) &&
             bench_weight(w, SHAPE(d, ff), "%sencoder.layer.%d.output.dense.weight", p, l) &&
             bench_weight(w, SHAPE(d), "%sencoder.layer.%d.output.dense.bias", p, l);
    }
    return ok;
}

bool bench_gpt2_cross(bench_weights *w, const char *prefix, int64_t d, int layers, int64_t n_vocab, int64_t n_pos)
{
    const char *p = prefix;
    bool ok = bench_weight(w, SHAPE(n_vocab, d), "%stransformer.wte.weight", p) &&
              bench_weight(w, SHAPE(n_pos, d), "%stransformer.wpe.weight", p) &&
              bench_weight(w, SHAPE(d), "%stransformer.ln_f.weight", p) && bench_weight(w, SHAPE(d), "%stransformer.ln_f.bias", p);
    static const struct { const char *name; int in, out; } conv[] = { /* multiples of d */
        {"attn.c_attn", 1, 3}, {"attn.c_proj", 1, 1}, {"crossattention.c_attn", 1, 2},
        {"crossattention.q_attn", 1, 1}, {"crossattention.c_proj", 1, 1}, {"mlp.c_fc", 1, 4}, {"mlp.c_proj", 4, 1},
    };
    static const char *const norms[] = {"ln_1", "ln_2", "ln_cross_attn"};
    for (int l = 0; ok && l < layers; l++) {
        for (size_t i = 0; ok && i < sizeof conv / sizeof conv[0]; i++)
            ok = bench_weight(w, SHAPE(conv[i].in * d, conv[i].out * d), "%stransformer.h.%d.%s.weight", p, l, conv[i].name) &&
                 bench_weight(w, SHAPE(conv[i].out * d), "%stransformer.h.%d.%s.bias", p, l, conv[i].name);
        for (int i = 0; ok && i < 3; i++)
            ok = bench_weight(w, SHAPE(d), "%stransformer.h.%d.%s.weight", p, l, norms[i]) &&
                 bench_weight(w, SHAPE(d), "%stransformer.h.%d.%s.bias", p, l, norms[i]);
    }
    return ok;
}
