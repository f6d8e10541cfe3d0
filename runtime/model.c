/* Model folders: config.json plus model.safetensors, or the shards listed by
 * model.safetensors.index.json, all tensors in one weight map sorted by
 * name (real checkpoints hold ~1000 tensors; lookups are a bsearch). */
#include "model_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    bool slash = n > 0 && dir[n - 1] == '/';
    size_t size = n + strlen(name) + 2;
    char *p = malloc(size);
    if (p)
        snprintf(p, size, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

mm_model *mm_model_new(const char *dir)
{
    mm_model *m = calloc(1, sizeof *m);
    if (m && !(m->dir = strdup(dir))) {
        free(m);
        return NULL;
    }
    return m;
}

void mm_model_free(mm_model *m)
{
    if (!m)
        return;
    for (int32_t i = 0; i < m->n_weights; i++) {
        free((char *)m->weights[i].w.name);
        free(m->weights[i].copy);
    }
    for (int32_t i = 0; i < m->n_skipped; i++)
        free(m->skipped[i].name);
    for (int32_t i = 0; i < m->n_files; i++) {
        if (m->files[i].map)
            munmap(m->files[i].map, m->files[i].size);
        free(m->files[i].path);
    }
    json_object_put(m->config);
    free(m->weights);
    free(m->skipped);
    free(m->files);
    free(m->config_path);
    free(m->dir);
    free(m);
}

/* Grows a (pointer, count, capacity) array by one slot. */
static bool grow(void **arr, int32_t n, int32_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    if (*cap > INT32_MAX / 2)
        return false;
    int32_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

mm_status mm_model_add_weight(mm_model *m, const mm_weight *w, int32_t file)
{
    if (!grow((void **)&m->weights, m->n_weights, &m->cap_weights, sizeof *m->weights))
        return mm_error_set(MM_ERR_NOMEM, "tensor '%s': out of memory", w->name);
    mm_wentry *e = &m->weights[m->n_weights];
    *e = (mm_wentry){.w = *w, .file = file};
    e->w.name = strdup(w->name);
    if (!e->w.name)
        return mm_error_set(MM_ERR_NOMEM, "tensor '%s': out of memory", w->name);
    /* The data section starts right after the header, whose length writers
     * do not always pad: copy rather than hand out a misaligned float*. */
    if ((uintptr_t)w->data % mm_dtype_size(w->dtype) != 0) {
        e->copy = malloc(w->nbytes ? w->nbytes : 1);
        if (!e->copy) {
            free((char *)e->w.name);
            return mm_error_set(MM_ERR_NOMEM, "tensor '%s': out of memory (%zu bytes)", w->name, w->nbytes);
        }
        memcpy(e->copy, w->data, w->nbytes);
        e->w.data = e->copy;
        mm_log(MM_LOG_DEBUG, "tensor '%s': data not aligned to %zu bytes, copied", w->name,
               mm_dtype_size(w->dtype));
    }
    m->n_weights++;
    return MM_OK;
}

mm_status mm_model_add_skipped(mm_model *m, const char *name, int32_t file)
{
    if (!grow((void **)&m->skipped, m->n_skipped, &m->cap_skipped, sizeof *m->skipped))
        return mm_error_set(MM_ERR_NOMEM, "tensor '%s': out of memory", name);
    mm_skipped *s = &m->skipped[m->n_skipped];
    s->file = file;
    if (!(s->name = strdup(name)))
        return mm_error_set(MM_ERR_NOMEM, "tensor '%s': out of memory", name);
    m->n_skipped++;
    return MM_OK;
}

static int cmp_weight(const void *a, const void *b)
{
    return strcmp(((const mm_wentry *)a)->w.name, ((const mm_wentry *)b)->w.name);
}

static int cmp_skipped(const void *a, const void *b)
{
    return strcmp(((const mm_skipped *)a)->name, ((const mm_skipped *)b)->name);
}

static int cmp_key_weight(const void *key, const void *elem)
{
    return strcmp(key, ((const mm_wentry *)elem)->w.name);
}

static int cmp_key_skipped(const void *key, const void *elem)
{
    return strcmp(key, ((const mm_skipped *)elem)->name);
}

static const char *file_name(const mm_model *m, int32_t file)
{
    return file >= 0 && file < m->n_files ? m->files[file].path : "(memory)";
}

static mm_status duplicate(const mm_model *m, const char *name, int32_t f1, int32_t f2)
{
    return mm_error_set(MM_ERR_FORMAT, "tensor '%s' appears twice: in %s and in %s", name, file_name(m, f1),
                        file_name(m, f2));
}

mm_status mm_model_finish(mm_model *m)
{
    if (m->n_weights > 1)
        qsort(m->weights, (size_t)m->n_weights, sizeof *m->weights, cmp_weight);
    if (m->n_skipped > 1)
        qsort(m->skipped, (size_t)m->n_skipped, sizeof *m->skipped, cmp_skipped);
    for (int32_t i = 1; i < m->n_weights; i++)
        if (strcmp(m->weights[i - 1].w.name, m->weights[i].w.name) == 0)
            return duplicate(m, m->weights[i].w.name, m->weights[i - 1].file, m->weights[i].file);
    for (int32_t i = 0; i < m->n_skipped; i++) {
        const mm_skipped *s = &m->skipped[i];
        const mm_skipped *prev = i > 0 ? &m->skipped[i - 1] : NULL;
        if (prev && strcmp(prev->name, s->name) == 0)
            return duplicate(m, s->name, prev->file, s->file);
        const mm_wentry *w = (const mm_wentry *)mm_model_weight_find(m, s->name);
        if (w)
            return duplicate(m, s->name, w->file, s->file);
    }
    return MM_OK;
}

const mm_skipped *mm_model_skipped_find(const mm_model *m, const char *name)
{
    if (!m || !name || m->n_skipped == 0)
        return NULL;
    return bsearch(name, m->skipped, (size_t)m->n_skipped, sizeof *m->skipped, cmp_key_skipped);
}

/* ---- sharded checkpoints ------------------------------------------------ */

/* Loads every shard named in the index's weight_map once (files[i] is the
 * i-th distinct shard), then checks each listed tensor is in its shard. */
static mm_status load_shards(mm_model *m, const char *index_path)
{
    json_object *index = NULL, *map;
    mm_status st = mm_json_read_file(index_path, &index);
    if (st != MM_OK)
        return st;
    if (!json_object_is_type(index, json_type_object) || !json_object_object_get_ex(index, "weight_map", &map) ||
        !json_object_is_type(map, json_type_object)) {
        json_object_put(index);
        return mm_error_set(MM_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    }
    const char **shards = calloc((size_t)json_object_object_length(map) + 1, sizeof *shards);
    int32_t n_shards = 0;
    if (!shards) {
        json_object_put(index);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", index_path);
    }
    json_object_object_foreach(map, tname, jshard) {
        const char *shard = json_object_is_type(jshard, json_type_string) ? json_object_get_string(jshard) : NULL;
        if (!shard || !*shard || shard[0] == '/' || strstr(shard, "..")) {
            st = mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': shard must be a file name in the model folder, not %s",
                              index_path, tname, json_object_to_json_string_ext(jshard, MM_JSON_PLAIN));
            break;
        }
        int32_t i = 0;
        while (i < n_shards && strcmp(shards[i], shard) != 0)
            i++;
        if (i < n_shards)
            continue;
        shards[n_shards++] = shard;
        char *path = path_join(m->dir, shard);
        if (!path) {
            st = mm_error_set(MM_ERR_NOMEM, "%s: out of memory", index_path);
            break;
        }
        st = mm_st_load_file(m, path);
        free(path);
        if (st != MM_OK) {
            mm_error_wrap(st, "%s", index_path);
            break;
        }
    }
    if (st == MM_OK)
        st = mm_model_finish(m);
    if (st == MM_OK) {
        json_object_object_foreach(map, tname2, jshard2) {
            const char *shard = json_object_get_string(jshard2);
            const mm_wentry *w = (const mm_wentry *)mm_model_weight_find(m, tname2);
            const mm_skipped *s = w ? NULL : mm_model_skipped_find(m, tname2);
            int32_t file = w ? w->file : s ? s->file : -1;
            if (file < 0 || strcmp(shards[file], shard) != 0) {
                st = mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s' is listed in shard %s but %s%s", index_path,
                                  tname2, shard, file < 0 ? "no shard holds it" : "found in ",
                                  file < 0 ? "" : shards[file]);
                break;
            }
        }
    }
    free(shards);
    json_object_put(index);
    return st;
}

/* ---- public ------------------------------------------------------------- */

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

mm_status mm_model_load(const char *dir, mm_model **out)
{
    if (!dir || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_model_load: NULL argument");
    *out = NULL;
    mm_model *m = mm_model_new(dir);
    char *config = path_join(dir, "config.json");
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    mm_status st = MM_OK;
    if (!m || !config || !single || !index)
        st = mm_error_set(MM_ERR_NOMEM, "%s: out of memory", dir);
    if (st == MM_OK)
        st = mm_config_load(m, config);
    if (st == MM_OK) {
        if (exists(single)) {
            st = mm_st_load_file(m, single);
            if (st == MM_OK)
                st = mm_model_finish(m);
        } else if (exists(index)) {
            st = load_shards(m, index);
        } else {
            st = mm_error_set(MM_ERR_IO, "%s: no weights: neither model.safetensors nor model.safetensors.index.json",
                              dir);
        }
    }
    free(config);
    free(single);
    free(index);
    if (st != MM_OK) {
        mm_model_free(m);
        return st;
    }
    mm_log(MM_LOG_DEBUG, "%s: model_type %s, %d tensors in %d file(s)", dir, m->model_type, m->n_weights,
           m->n_files);
    *out = m;
    return MM_OK;
}

const char *mm_model_dir(const mm_model *m)
{
    return m ? m->dir : NULL;
}

const char *mm_model_type(const mm_model *m)
{
    return m ? m->model_type : NULL;
}

int32_t mm_model_weight_count(const mm_model *m)
{
    return m ? m->n_weights : 0;
}

const mm_weight *mm_model_weight_at(const mm_model *m, int32_t i)
{
    return m && i >= 0 && i < m->n_weights ? &m->weights[i].w : NULL;
}

const mm_weight *mm_model_weight_find(const mm_model *m, const char *name)
{
    if (!m || !name || m->n_weights == 0)
        return NULL;
    const mm_wentry *e = bsearch(name, m->weights, (size_t)m->n_weights, sizeof *m->weights, cmp_key_weight);
    return e ? &e->w : NULL;
}

mm_status mm_model_weight_get(const mm_model *m, const char *name, const mm_weight **out)
{
    if (!m || !name || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_model_weight_get: NULL argument");
    *out = mm_model_weight_find(m, name);
    if (*out)
        return MM_OK;
    if (mm_model_skipped_find(m, name))
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: tensor '%s' has a dtype this runtime does not load", m->dir,
                            name);
    return mm_error_set(MM_ERR_FORMAT, "%s: no tensor '%s'", m->dir, name);
}

int32_t mm_model_weight_index(const mm_model *m, const mm_weight *w)
{
    if (!m || !w || m->n_weights == 0)
        return -1;
    /* w is the first member of its entry: compare addresses as integers, so
     * a weight of another model is simply out of range */
    uintptr_t base = (uintptr_t)m->weights, p = (uintptr_t)w;
    if (p < base || (p - base) % sizeof *m->weights || (p - base) / sizeof *m->weights >= (size_t)m->n_weights)
        return -1;
    return (int32_t)((p - base) / sizeof *m->weights);
}
