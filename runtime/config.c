/* config.json: reading JSON files of a model folder and typed access by
 * dotted path ("encoder.hidden_size", "suppress_tokens.3"). A JSON null
 * counts as absent: Hugging Face writes null for "use the default". */
#include "model_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Configs and shard indexes are kilobytes; refuse anything absurd before
 * allocating for it. */
#define MM_JSON_MAX_FILE ((long)64 << 20)

mm_status mm_json_read_file(const char *path, json_object **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mm_error_set(MM_ERR_IO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(f);
        return mm_error_set(MM_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (size > MM_JSON_MAX_FILE) {
        fclose(f);
        return mm_error_set(MM_ERR_NOMEM, "%s: %ld bytes is implausibly large for a JSON file", path, size);
    }
    char *text = malloc((size_t)size + 1);
    if (!text) {
        fclose(f);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(text, 1, (size_t)size, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != (size_t)size) {
        free(text);
        return mm_error_set(MM_ERR_IO, "%s: read failed", path);
    }

    /* Lenient mode: Python's json.dump writes NaN/Infinity. */
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        free(text);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    }
    json_object *root = json_tokener_parse_ex(tok, text, (int)size);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    const char *why = NULL;
    if (!root || jerr != json_tokener_success)
        why = jerr == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(jerr);
    while (!why && end < (size_t)size && strchr(" \t\r\n", text[end]) && text[end])
        end++;
    if (!why && end != (size_t)size)
        why = "trailing data after the JSON value";
    mm_status st = MM_OK;
    if (why) {
        int line = 1;
        for (size_t i = 0; i < end && i < (size_t)size; i++)
            line += text[i] == '\n';
        st = mm_error_set(MM_ERR_FORMAT, "%s: invalid JSON: %s (line %d)", path, why, line);
        json_object_put(root);
        root = NULL;
    }
    free(text);
    *out = root;
    return st;
}

mm_status mm_config_load(mm_model *m, const char *path)
{
    json_object *root, *type;
    mm_status st = mm_json_read_file(path, &root);
    if (st != MM_OK)
        return st;
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return mm_error_set(MM_ERR_FORMAT, "%s: not a JSON object", path);
    }
    m->config = root;
    if (!(m->config_path = strdup(path)))
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    if (!json_object_object_get_ex(root, "model_type", &type) || !json_object_is_type(type, json_type_string))
        return mm_error_set(MM_ERR_FORMAT, "%s: no \"model_type\" string: not a Hugging Face model folder?", path);
    m->model_type = json_object_get_string(type);
    return MM_OK;
}

/* ---- dotted paths ------------------------------------------------------- */

/* The value at `path`, or NULL when any component is absent or null. A
 * component indexes an array when the value there is an array. */
static json_object *lookup(const mm_model *m, const char *path)
{
    json_object *cur = m ? m->config : NULL;
    const char *p = path;
    while (cur && p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[256];
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        if (json_object_is_type(cur, json_type_object)) {
            if (!json_object_object_get_ex(cur, key, &cur))
                return NULL;
        } else if (json_object_is_type(cur, json_type_array)) {
            if (n == 0 || n > 9 || strspn(key, "0123456789") != n)
                return NULL;
            size_t i = (size_t)strtoul(key, NULL, 10);
            if (i >= json_object_array_length(cur))
                return NULL;
            cur = json_object_array_get_idx(cur, i);
        } else {
            return NULL;
        }
        p = dot ? dot + 1 : NULL;
    }
    return cur;
}

static const char *config_name(const mm_model *m)
{
    return m->config_path ? m->config_path : m->dir;
}

/* Looks `path` up; when absent: the default is used if `has_def`, else an
 * error. *v stays NULL when the default applies. */
static mm_status get(const mm_model *m, const char *path, bool has_def, json_object **v)
{
    *v = NULL;
    if (!m || !path)
        return mm_error_set(MM_ERR_INVALID, "mm_config: NULL argument");
    *v = lookup(m, path);
    if (*v || has_def)
        return MM_OK;
    if (!m->config)
        return mm_error_set(MM_ERR_FORMAT, "%s: no config.json loaded (looking for \"%s\")", m->dir, path);
    return mm_error_set(MM_ERR_FORMAT, "%s: missing \"%s\"", config_name(m), path);
}

static mm_status wrong_type(const mm_model *m, const char *path, json_object *v, const char *want)
{
    return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" is %.64s, not %s", config_name(m), path,
                        json_object_to_json_string_ext(v, MM_JSON_PLAIN), want);
}

static mm_status to_int(const mm_model *m, const char *path, json_object *v, int64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
            return wrong_type(m, path, v, "a 64-bit integer");
        *out = i;
        return MM_OK;
    }
    /* 2.0 is an integer too: some writers emit every number as a float. */
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (isfinite(d) && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *out = (int64_t)d;
            return MM_OK;
        }
    }
    return wrong_type(m, path, v, "an integer");
}

static mm_status to_float(const mm_model *m, const char *path, json_object *v, double *out)
{
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return wrong_type(m, path, v, "a number");
    *out = json_object_get_double(v);
    return MM_OK;
}

/* def == NULL: the key is required. */
static mm_status get_int(const mm_model *m, const char *path, const int64_t *def, int64_t *out)
{
    json_object *v;
    mm_status st = get(m, path, def != NULL, &v);
    if (st == MM_OK && !v)
        *out = *def;
    return st != MM_OK || !v ? st : to_int(m, path, v, out);
}

static mm_status get_float(const mm_model *m, const char *path, const double *def, double *out)
{
    json_object *v;
    mm_status st = get(m, path, def != NULL, &v);
    if (st == MM_OK && !v)
        *out = *def;
    return st != MM_OK || !v ? st : to_float(m, path, v, out);
}

/* A required value of JSON type `type` (`want` names it in messages). */
static mm_status get_typed(const mm_model *m, const char *path, json_type type, const char *want, json_object **v)
{
    mm_status st = get(m, path, false, v);
    if (st == MM_OK && !json_object_is_type(*v, type))
        st = wrong_type(m, path, *v, want);
    return st;
}

/* ---- public ------------------------------------------------------------- */

bool mm_config_has(const mm_model *m, const char *path)
{
    return path && lookup(m, path) != NULL;
}

mm_status mm_config_int(const mm_model *m, const char *path, int64_t *out)
{
    return get_int(m, path, NULL, out);
}

mm_status mm_config_int_or(const mm_model *m, const char *path, int64_t def, int64_t *out)
{
    return get_int(m, path, &def, out);
}

mm_status mm_config_float(const mm_model *m, const char *path, double *out)
{
    return get_float(m, path, NULL, out);
}

mm_status mm_config_float_or(const mm_model *m, const char *path, double def, double *out)
{
    return get_float(m, path, &def, out);
}

mm_status mm_config_string(const mm_model *m, const char *path, const char **out)
{
    json_object *v;
    mm_status st = get_typed(m, path, json_type_string, "a string", &v);
    if (st == MM_OK)
        *out = json_object_get_string(v);
    return st;
}

mm_status mm_config_bool(const mm_model *m, const char *path, bool *out)
{
    json_object *v;
    mm_status st = get_typed(m, path, json_type_boolean, "true or false", &v);
    if (st == MM_OK)
        *out = json_object_get_boolean(v);
    return st;
}

int32_t mm_config_array_len(const mm_model *m, const char *path)
{
    json_object *v = path ? lookup(m, path) : NULL;
    if (!json_object_is_type(v, json_type_array))
        return 0;
    size_t n = json_object_array_length(v);
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}
