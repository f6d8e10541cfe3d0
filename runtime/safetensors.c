/* safetensors reader: 8-byte little-endian header length, JSON header,
 * data section. Files are memory-mapped read-only and tensors point into
 * the map. Every header field is checked against the file size before any
 * pointer is formed: a corrupt or hostile file gives MM_ERR_FORMAT (or
 * MM_ERR_NOMEM for sizes that overflow), never a crash. */
#include "model_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every dtype the safetensors format defines. Only the ones with an mm_dtype
 * are loaded; the others (position_ids buffers in I64, masks in BOOL/U8 ...)
 * are validated and skipped. Sizes are in bits because of F4/F6. */
static const struct st_dtype {
    const char *name;
    uint32_t bits;
    int dtype; /* mm_dtype, or -1: skipped */
} st_dtypes[] = {
    {"F32", 32, MM_DTYPE_F32},  {"F16", 16, MM_DTYPE_F16}, {"BF16", 16, MM_DTYPE_BF16}, {"I32", 32, MM_DTYPE_I32},
    {"F64", 64, -1},            {"I64", 64, -1},           {"U64", 64, -1},             {"U32", 32, -1},
    {"I16", 16, -1},            {"U16", 16, -1},           {"I8", 8, -1},               {"U8", 8, -1},
    {"BOOL", 8, -1},            {"F8_E4M3", 8, -1},        {"F8_E5M2", 8, -1},          {"F8_E8M0", 8, -1},
    {"C64", 64, -1},            {"F6_E2M3", 6, -1},        {"F6_E3M2", 6, -1},          {"F4", 4, -1},
};

static const struct st_dtype *st_dtype_find(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return &st_dtypes[i];
    return NULL;
}

/* One validated header entry. */
typedef struct st_entry {
    const char *name; /* points into the parsed header */
    const struct st_dtype *dt;
    int32_t n_dims;
    int64_t shape[MM_WEIGHT_MAX_DIMS]; /* first dims only when n_dims > max */
    uint64_t begin, end;
} st_entry;

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A JSON integer >= 0. json-c keeps integers above INT64_MAX as uint64. */
static bool json_uint(json_object *v, uint64_t *out)
{
    if (!v || !json_object_is_type(v, json_type_int))
        return false;
    int64_t s = json_object_get_int64(v);
    if (s < 0)
        return false;
    *out = s == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)s;
    return true;
}

static void shape_str(char *buf, size_t size, json_object *shape)
{
    size_t len = json_object_array_length(shape), used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < len && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                                 json_object_to_json_string_ext(json_object_array_get_idx(shape, i), MM_JSON_PLAIN));
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static mm_status st_parse_entry(const char *path, const char *name, json_object *val, uint64_t data_size,
                                st_entry *e)
{
    json_object *jdt, *jshape, *joffs;
    if (!json_object_is_type(val, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    if (!json_object_object_get_ex(val, "dtype", &jdt) || !json_object_is_type(jdt, json_type_string))
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\" string", path, name);
    if (!json_object_object_get_ex(val, "shape", &jshape) || !json_object_is_type(jshape, json_type_array))
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': missing \"shape\" array", path, name);
    if (!json_object_object_get_ex(val, "data_offsets", &joffs) || !json_object_is_type(joffs, json_type_array) ||
        json_object_array_length(joffs) != 2)
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\" [begin, end] array", path,
                            name);

    e->name = name;
    e->dt = st_dtype_find(json_object_get_string(jdt));
    if (!e->dt)
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                            json_object_get_string(jdt));

    char shp[256];
    shape_str(shp, sizeof shp, jshape);
    size_t n_dims = json_object_array_length(jshape);
    bool any_zero = false;
    for (size_t i = 0; i < n_dims; i++) {
        uint64_t d;
        if (!json_uint(json_object_array_get_idx(jshape, i), &d))
            return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': shape %s: dimension %zu is not a non-negative integer",
                                path, name, shp, i);
        if (d > INT64_MAX)
            return mm_error_set(MM_ERR_NOMEM, "%s: tensor '%s': shape %s is implausibly large", path, name, shp);
        any_zero |= d == 0;
    }
    /* Elements, then bits, overflow-checked; a shape with a zero dimension
     * has no elements whatever the others claim. */
    uint64_t count = 1, limit = (uint64_t)INT64_MAX / 64;
    for (size_t i = 0; i < n_dims && !any_zero; i++) {
        uint64_t d = json_object_get_uint64(json_object_array_get_idx(jshape, i));
        if (count > limit / d)
            return mm_error_set(MM_ERR_NOMEM,
                                "%s: tensor '%s': shape %s is implausibly large (element count overflows)", path,
                                name, shp);
        count *= d;
    }
    if (any_zero)
        count = 0;
    uint64_t bits = count * e->dt->bits;
    if (bits % 8)
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': shape %s of %s is not a whole number of bytes", path,
                            name, shp, e->dt->name);

    if (!json_uint(json_object_array_get_idx(joffs, 0), &e->begin) ||
        !json_uint(json_object_array_get_idx(joffs, 1), &e->end))
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': data_offsets %s are not non-negative integers", path,
                            name, json_object_to_json_string_ext(joffs, MM_JSON_PLAIN));
    if (e->begin > e->end)
        return mm_error_set(MM_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] have begin > end",
                            path, name, e->begin, e->end);
    if (e->end > data_size)
        return mm_error_set(MM_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] run past the end of the data section (%" PRIu64 " bytes): file truncated?",
                            path, name, e->begin, e->end, data_size);
    if (bits / 8 != e->end - e->begin)
        return mm_error_set(MM_ERR_FORMAT,
                            "%s: tensor '%s': shape %s of %s needs %" PRIu64 " bytes but data_offsets [%" PRIu64
                            ", %" PRIu64 "] hold %" PRIu64 " (wrong dtype size?)",
                            path, name, shp, e->dt->name, bits / 8, e->begin, e->end, e->end - e->begin);

    if (e->dt->dtype >= 0 && n_dims > (size_t)MM_WEIGHT_MAX_DIMS)
        return mm_error_set(MM_ERR_UNSUPPORTED,
                            "%s: tensor '%s': shape %s has %zu dimensions; at most %d are supported", path, name,
                            shp, n_dims, MM_WEIGHT_MAX_DIMS);
    e->n_dims = (int32_t)(n_dims < (size_t)MM_WEIGHT_MAX_DIMS ? n_dims : (size_t)MM_WEIGHT_MAX_DIMS);
    for (int32_t i = 0; i < e->n_dims; i++)
        e->shape[i] = json_object_get_int64(json_object_array_get_idx(jshape, (size_t)i));
    return MM_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Overlapping byte ranges mean two tensors alias each other: a corrupt or
 * forged file. Empty tensors occupy no bytes and may sit anywhere. */
static mm_status st_check_overlap(const char *path, st_entry *e, size_t n)
{
    qsort(e, n, sizeof *e, cmp_begin);
    const st_entry *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (e[i].begin == e[i].end)
            continue;
        if (prev && e[i].begin < prev->end)
            return mm_error_set(MM_ERR_FORMAT,
                                "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64 ", %" PRIu64
                                "] overlap",
                                path, prev->name, prev->begin, prev->end, e[i].name, e[i].begin, e[i].end);
        if (!prev || e[i].end > prev->end)
            prev = &e[i];
    }
    return MM_OK;
}

static mm_status st_add(mm_model *m, const st_entry *e, const uint8_t *data, int32_t file)
{
    if (e->dt->dtype < 0) {
        mm_log(MM_LOG_DEBUG, "safetensors: skipping tensor '%s' (dtype %s is not loaded)", e->name, e->dt->name);
        return mm_model_add_skipped(m, e->name, file);
    }
    mm_weight w = {
        .name = e->name,
        .dtype = (mm_dtype)e->dt->dtype,
        .n_dims = e->n_dims,
        .data = data + e->begin,
        .nbytes = (size_t)(e->end - e->begin),
    };
    memcpy(w.shape, e->shape, sizeof w.shape);
    return mm_model_add_weight(m, &w, file);
}

mm_status mm_st_parse(mm_model *m, const char *path, const uint8_t *buf, size_t size, int32_t file)
{
    if (size < 8)
        return mm_error_set(MM_ERR_FORMAT,
                            "%s: file is %zu bytes, too short for a safetensors file (8-byte header length first)",
                            path, size);
    uint64_t hlen = read_le64(buf);
    if (hlen > size - 8)
        return mm_error_set(MM_ERR_FORMAT,
                            "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes): truncated or "
                            "not a safetensors file",
                            path, hlen, size);
    if (hlen > MM_ST_MAX_HEADER)
        return mm_error_set(MM_ERR_FORMAT, "%s: header length %" PRIu64 " is implausibly large (limit %" PRIu64 ")",
                            path, hlen, MM_ST_MAX_HEADER);

    json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
    if (!tok)
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    const char *hdr = (const char *)buf + 8;
    json_object *root = json_tokener_parse_ex(tok, hdr, (int)hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        return mm_error_set(MM_ERR_FORMAT,
                            "%s: header is not valid JSON: %s (at byte %zu of the %" PRIu64 "-byte header)", path,
                            jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr), end,
                            hlen);
    }
    /* Writers pad the header with spaces to align the data section. */
    while (end < hlen && (hdr[end] == ' ' || hdr[end] == '\n' || hdr[end] == '\r' || hdr[end] == '\t'))
        end++;
    mm_status st = MM_OK;
    if (end != hlen)
        st = mm_error_set(MM_ERR_FORMAT, "%s: header is not valid JSON: trailing data at byte %zu", path, end + 8);
    else if (!json_object_is_type(root, json_type_object))
        st = mm_error_set(MM_ERR_FORMAT, "%s: header is not a JSON object", path);
    if (st != MM_OK) {
        json_object_put(root);
        return st;
    }

    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    size_t n = 0;
    st_entry *entries = calloc((size_t)json_object_object_length(root) + 1, sizeof *entries);
    if (!entries) {
        json_object_put(root);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    }
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        st = st_parse_entry(path, key, val, data_size, &entries[n]);
        if (st != MM_OK)
            break;
        n++;
    }
    if (st == MM_OK)
        st = st_check_overlap(path, entries, n);
    for (size_t i = 0; i < n && st == MM_OK; i++)
        st = st_add(m, &entries[i], data, file);
    free(entries);
    json_object_put(root);
    return st;
}

mm_status mm_st_load_file(mm_model *m, const char *path)
{
    if (m->n_files == m->cap_files) {
        int32_t cap = m->cap_files ? m->cap_files * 2 : 4;
        mm_st_file *f = realloc(m->files, (size_t)cap * sizeof *f);
        if (!f)
            return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
        m->files = f;
        m->cap_files = cap;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mm_error_set(MM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return mm_error_set(MM_ERR_IO, "%s: %s", path, S_ISREG(sb.st_mode) ? strerror(e) : "not a regular file");
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) { /* mmap refuses length 0; mm_st_parse reports the short file */
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return mm_error_set(e == ENOMEM ? MM_ERR_NOMEM : MM_ERR_IO, "%s: mmap: %s", path, strerror(e));
        }
    }
    close(fd);
    mm_st_file *f = &m->files[m->n_files];
    f->path = strdup(path);
    f->map = map;
    f->size = size;
    if (!f->path) {
        if (map)
            munmap(map, size);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    }
    m->n_files++; /* owned by m from here: mm_model_free unmaps it */
    return mm_st_parse(m, path, map, size, m->n_files - 1);
}

/* ---- public ------------------------------------------------------------- */

static const char *path_dir(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    snprintf(buf, size, "%.*s", (int)n, path);
    return buf;
}

mm_status mm_safetensors_open(const char *path, mm_model **out)
{
    if (!path || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_safetensors_open: NULL argument");
    *out = NULL;
    char dir[4096];
    mm_model *m = mm_model_new(path_dir(path, dir, sizeof dir));
    if (!m)
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    mm_status st = mm_st_load_file(m, path);
    if (st == MM_OK)
        st = mm_model_finish(m);
    if (st != MM_OK) {
        mm_model_free(m);
        return st;
    }
    *out = m;
    return MM_OK;
}
