/* preprocessor_config.json -> mm_mel_params, checked before anything is
 * built from it. Absent keys take WhisperFeatureExtractor's defaults, as
 * transformers does; n_samples and nb_max_frames are derived there from
 * chunk_length, so stored values that disagree mean a broken file. */
#include "media_impl.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

mm_mel_params mm_mel_params_default(void)
{
    return (mm_mel_params){
        .feature_size = 80, .sampling_rate = 16000, .hop_length = 160, .n_fft = 400, .chunk_length = 30};
}

mm_status mm_mel_params_check(const mm_mel_params *p, const char *what)
{
    struct {
        const char *name;
        int32_t v, lo, hi;
    } r[] = {
        /* Generous bounds around every Whisper checkpoint; they keep the
         * sizes below (filters, frames, chunk samples) far from overflow. */
        {"feature_size", p->feature_size, 1, 1024},
        {"sampling_rate", p->sampling_rate, 1000, 384000},
        {"hop_length", p->hop_length, 1, 1 << 16},
        {"n_fft", p->n_fft, 4, 1 << 16},
        {"chunk_length", p->chunk_length, 1, 3600},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" is %ld, expected %ld..%ld", what, r[i].name, (long)r[i].v,
                                (long)r[i].lo, (long)r[i].hi);
    /* The centred STFT reflects n_fft/2 samples at each end of a chunk. */
    if ((int64_t)p->chunk_length * p->sampling_rate <= p->n_fft / 2)
        return mm_error_set(MM_ERR_FORMAT, "%s: a chunk of %ld samples is shorter than half of n_fft (%ld)", what,
                            (long)p->chunk_length * p->sampling_rate, (long)p->n_fft);
    return MM_OK;
}

/* Reads integer `key` into *v when present (null counts as absent). */
static mm_status get_int(json_object *root, const char *key, const char *path, int64_t *v, bool *present)
{
    json_object *o;
    *present = json_object_object_get_ex(root, key, &o) && !json_object_is_type(o, json_type_null);
    if (!*present)
        return MM_OK;
    if (!json_object_is_type(o, json_type_int))
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must be an integer, not %s", path, key,
                            json_object_to_json_string(o));
    *v = json_object_get_int64(o);
    return MM_OK;
}

static mm_status get_int32(json_object *root, const char *key, const char *path, int32_t *v)
{
    int64_t x = 0;
    bool present;
    mm_status st = get_int(root, key, path, &x, &present);
    if (st != MM_OK || !present)
        return st;
    if (x < INT32_MIN || x > INT32_MAX)
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" is out of range (%lld)", path, key, (long long)x);
    *v = (int32_t)x;
    return MM_OK;
}

/* A stored value the extractor would recompute must agree with it. */
static mm_status check_derived(json_object *root, const char *key, const char *path, int64_t want)
{
    int64_t x = 0;
    bool present;
    mm_status st = get_int(root, key, path, &x, &present);
    if (st == MM_OK && present && x != want)
        st = mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" is %lld but chunk_length, sampling_rate and hop_length give %lld",
                          path, key, (long long)x, (long long)want);
    return st;
}

/* A number that must be `want` (options this extractor does not offer). */
static mm_status check_number(json_object *root, const char *key, const char *path, double want, const char *why)
{
    json_object *o;
    if (!json_object_object_get_ex(root, key, &o) || json_object_is_type(o, json_type_null))
        return MM_OK;
    if (!json_object_is_type(o, json_type_int) && !json_object_is_type(o, json_type_double))
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
    if (json_object_get_double(o) != want)
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: \"%s\" is %s; only %g is supported (%s)", path, key,
                            json_object_to_json_string(o), want, why);
    return MM_OK;
}

static mm_status parse(json_object *root, const char *path, mm_mel_params *p)
{
    json_object *type;
    if (!json_object_is_type(root, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: not a JSON object", path);
    if (json_object_object_get_ex(root, "feature_extractor_type", &type) && json_object_is_type(type, json_type_string) &&
        strcmp(json_object_get_string(type), "WhisperFeatureExtractor") != 0)
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: feature_extractor_type is %s, not WhisperFeatureExtractor", path,
                            json_object_get_string(type));
    *p = mm_mel_params_default();
    mm_status st;
    if ((st = get_int32(root, "feature_size", path, &p->feature_size)) != MM_OK ||
        (st = get_int32(root, "sampling_rate", path, &p->sampling_rate)) != MM_OK ||
        (st = get_int32(root, "hop_length", path, &p->hop_length)) != MM_OK ||
        (st = get_int32(root, "n_fft", path, &p->n_fft)) != MM_OK ||
        (st = get_int32(root, "chunk_length", path, &p->chunk_length)) != MM_OK ||
        (st = mm_mel_params_check(p, path)) != MM_OK)
        return st;
    int64_t n_samples = (int64_t)p->chunk_length * p->sampling_rate;
    if ((st = check_derived(root, "n_samples", path, n_samples)) != MM_OK ||
        (st = check_derived(root, "nb_max_frames", path, n_samples / p->hop_length)) != MM_OK ||
        (st = check_number(root, "padding_value", path, 0.0, "audio is padded with silence")) != MM_OK ||
        (st = check_number(root, "dither", path, 0.0, "features are deterministic")) != MM_OK)
        return st;
    return MM_OK;
}

mm_status mm_mel_init(const char *path, mm_mel **out)
{
    if (!path || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_mel_init: NULL argument");
    *out = NULL;
    /* A model folder or the file itself. */
    char file[4096];
    json_object *root = NULL;
    mm_status st = mm_media_preprocessor_config(path, file, &root);
    if (st != MM_OK)
        return st;
    mm_mel_params p;
    st = parse(root, file, &p);
    json_object_put(root);
    if (st != MM_OK)
        return st;
    return mm_mel_init_params(&p, out);
}
