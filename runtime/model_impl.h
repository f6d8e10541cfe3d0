/* Internals of mm_model: the memory-mapped safetensors files of a model
 * folder, its weight map (sorted by name for bsearch) and config.json.
 * Shared by safetensors.c (parsing), config.c (config.json) and model.c
 * (folder layout, shards, accessors). */
#ifndef MM_MODEL_IMPL_H
#define MM_MODEL_IMPL_H

#include "mm/mm.h"

#include <json-c/json.h>

/* mm_weight.shape capacity. */
#define MM_WEIGHT_MAX_DIMS ((int)(sizeof(((mm_weight *)0)->shape) / sizeof(int64_t)))
/* safetensors (the reference implementation) refuses bigger headers too. */
#define MM_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* JSON values quoted in error messages: compact, "/" unescaped. */
#define MM_JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct mm_st_file {
    char *path;
    void *map; /* read-only mmap of the whole file (NULL when size is 0) */
    size_t size;
} mm_st_file;

/* A loaded tensor. `w` is what the public API hands out. */
typedef struct mm_wentry {
    mm_weight w;   /* w.name is owned (malloc'd)                        */
    int32_t file;  /* index into mm_model.files, -1 for in-memory data  */
    void *copy;    /* owned aligned copy when the mapped data was not
                      aligned to its element size; w.data points at it  */
} mm_wentry;

/* A tensor present in a file but not loaded (I64, U8, BOOL, F64 ...). Kept
 * so that the sharded index check knows it exists. */
typedef struct mm_skipped {
    char *name;
    int32_t file;
} mm_skipped;

struct mm_model {
    char *dir;
    char *config_path;   /* NULL for mm_safetensors_open          */
    json_object *config; /* parsed config.json (owned), or NULL    */
    const char *model_type; /* points into config                 */

    mm_st_file *files;
    int32_t n_files, cap_files;

    mm_wentry *weights; /* sorted by name once mm_model_finish ran */
    int32_t n_weights, cap_weights;

    mm_skipped *skipped; /* sorted by name once mm_model_finish ran */
    int32_t n_skipped, cap_skipped;
};

/* model.c */
mm_model *mm_model_new(const char *dir);
/* Appends a loaded tensor; takes a copy of `name`. */
mm_status mm_model_add_weight(mm_model *m, const mm_weight *w, int32_t file);
mm_status mm_model_add_skipped(mm_model *m, const char *name, int32_t file);
/* Sorts the weight map by name and refuses a name that appears twice. Call
 * after the last file was added, before any lookup. */
mm_status mm_model_finish(mm_model *m);
const mm_skipped *mm_model_skipped_find(const mm_model *m, const char *name);
/* Index of w among m's weights (mm_model_weight_at), or -1 when w is not
 * one of them. */
int32_t mm_model_weight_index(const mm_model *m, const mm_weight *w);

/* safetensors.c */
/* Validates the safetensors image buf[0..size) and adds its tensors to `m`
 * with file index `file`; `path` only names the file in messages. Data
 * pointers point into `buf`, which must outlive the model. Never reads
 * outside buf, whatever its contents (this is the fuzzing entry point). */
mm_status mm_st_parse(mm_model *m, const char *path, const uint8_t *buf, size_t size, int32_t file);
/* Maps `path` read-only, parses it and adds it to m->files. */
mm_status mm_st_load_file(mm_model *m, const char *path);

/* config.c */
/* Reads and parses a JSON file (config.json, the shard index); on failure
 * the message names the file. `*out` is owned by the caller. */
mm_status mm_json_read_file(const char *path, json_object **out);
/* Reads <dir>/config.json into m->config and requires "model_type". */
mm_status mm_config_load(mm_model *m, const char *path);

#endif
