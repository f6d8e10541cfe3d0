/* The Hugging Face image processors (transformers 4.40 CLIPImageProcessor
 * and ViTImageProcessor) from preprocessor_config.json: resize through
 * Pillow's filters (image_resize.c), centre crop, rescale, normalise, in
 * the order and the arithmetic they use, so pixel values match to float
 * rounding: x * rescale_factor in double then float, (x - mean) / std in
 * float with float mean and std. */
#include "media_impl.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Sizes far above any checkpoint's, far below overflow. */
#define MAX_SIDE 16384

struct mm_image_proc {
    mm_image_params p;
};

mm_image_params mm_image_params_clip(void)
{
    return (mm_image_params){
        .do_resize = true, .shortest_edge = 224, .resample = MM_RESAMPLE_BICUBIC,
        .do_center_crop = true, .crop_height = 224, .crop_width = 224,
        .do_rescale = true, .rescale_factor = 1.0 / 255.0,
        .do_normalize = true, .image_mean = {0.48145466f, 0.4578275f, 0.40821073f},
        .image_std = {0.26862954f, 0.26130258f, 0.27577711f}, .do_convert_rgb = true};
}

mm_image_params mm_image_params_vit(void)
{
    return (mm_image_params){
        .do_resize = true, .resize_height = 224, .resize_width = 224, .resample = MM_RESAMPLE_BILINEAR,
        .do_rescale = true, .rescale_factor = 1.0 / 255.0,
        .do_normalize = true, .image_mean = {0.5f, 0.5f, 0.5f}, .image_std = {0.5f, 0.5f, 0.5f},
        .do_convert_rgb = true};
}

static mm_status check_params(const mm_image_params *p, const char *what)
{
    if (p->do_resize) {
        if (p->shortest_edge > 0 ? p->shortest_edge > MAX_SIDE
                                 : p->resize_height < 1 || p->resize_height > MAX_SIDE || p->resize_width < 1 ||
                                       p->resize_width > MAX_SIDE)
            return mm_error_set(MM_ERR_FORMAT, "%s: resize size must be 1..%d (shortest_edge %d, %dx%d)", what,
                                MAX_SIDE, p->shortest_edge, p->resize_width, p->resize_height);
        if ((int)p->resample < 0 || p->resample > MM_RESAMPLE_HAMMING)
            return mm_error_set(MM_ERR_FORMAT, "%s: \"resample\" is %d; Pillow's filters are 0..5", what,
                                (int)p->resample);
    }
    if (p->do_center_crop && (p->crop_height < 1 || p->crop_height > MAX_SIDE || p->crop_width < 1 ||
                              p->crop_width > MAX_SIDE))
        return mm_error_set(MM_ERR_FORMAT, "%s: crop size must be 1..%d (%dx%d)", what, MAX_SIDE, p->crop_width,
                            p->crop_height);
    if (p->do_rescale && !(isfinite(p->rescale_factor) && p->rescale_factor != 0.0))
        return mm_error_set(MM_ERR_FORMAT, "%s: \"rescale_factor\" must be a finite non-zero number", what);
    if (p->do_normalize)
        for (int c = 0; c < 3; c++)
            if (!isfinite(p->image_mean[c]) || !isfinite(p->image_std[c]) || p->image_std[c] == 0.0f)
                return mm_error_set(MM_ERR_FORMAT, "%s: image_mean and image_std must be finite, std non-zero", what);
    return MM_OK;
}

/* ---- preprocessor_config.json ---- */

static json_object *get(json_object *root, const char *key)
{
    json_object *o;
    if (!json_object_object_get_ex(root, key, &o) || json_object_is_type(o, json_type_null))
        return NULL;
    return o;
}

static mm_status get_bool(json_object *root, const char *key, const char *path, bool *v)
{
    json_object *o = get(root, key);
    if (!o)
        return MM_OK;
    if (!json_object_is_type(o, json_type_boolean))
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must be true or false, not %s", path, key,
                            json_object_to_json_string(o));
    *v = json_object_get_boolean(o);
    return MM_OK;
}

static mm_status as_int(json_object *o, const char *key, const char *path, int32_t *v)
{
    if (!json_object_is_type(o, json_type_int))
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must be an integer, not %s", path, key,
                            json_object_to_json_string(o));
    int64_t x = json_object_get_int64(o);
    if (x < 0 || x > MAX_SIDE)
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" is %lld, expected 0..%d", path, key, (long long)x, MAX_SIDE);
    *v = (int32_t)x;
    return MM_OK;
}

static bool is_number(json_object *o)
{
    return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

/* `size` / `crop_size`: an integer (legacy files) or an object with
 * "shortest_edge" or "height" and "width". An integer means a square when
 * `int_is_square` (transformers' default_to_square), else a shortest edge. */
static mm_status get_size(json_object *root, const char *key, const char *path, bool int_is_square,
                          bool allow_shortest, int32_t *shortest, int32_t *h, int32_t *w)
{
    json_object *o = get(root, key), *e, *hh, *ww;
    if (!o)
        return MM_OK;
    mm_status st;
    if (json_object_is_type(o, json_type_int)) {
        int32_t s = 0;
        if ((st = as_int(o, key, path, &s)) != MM_OK)
            return st;
        if (int_is_square) {
            *shortest = 0;
            *h = *w = s;
        } else {
            *shortest = s;
        }
        return MM_OK;
    }
    if (!json_object_is_type(o, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must be an integer or an object", path, key);
    if (json_object_object_get_ex(o, "longest_edge", &e) && !json_object_is_type(e, json_type_null))
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: \"%s\" has a longest_edge, which this processor does not use",
                            path, key);
    bool has_h = json_object_object_get_ex(o, "height", &hh), has_w = json_object_object_get_ex(o, "width", &ww);
    if (json_object_object_get_ex(o, "shortest_edge", &e)) {
        if (!allow_shortest)
            return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must have height and width here, not shortest_edge",
                                path, key);
        *h = *w = 0;
        return as_int(e, "shortest_edge", path, shortest);
    }
    if (!has_h || !has_w)
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must have \"shortest_edge\" or \"height\" and \"width\"", path,
                            key);
    *shortest = 0;
    if ((st = as_int(hh, "height", path, h)) != MM_OK || (st = as_int(ww, "width", path, w)) != MM_OK)
        return st;
    return MM_OK;
}

/* image_mean / image_std: one number for every channel, or three. */
static mm_status get_triple(json_object *root, const char *key, const char *path, float v[3])
{
    json_object *o = get(root, key);
    if (!o)
        return MM_OK;
    if (is_number(o)) {
        v[0] = v[1] = v[2] = (float)json_object_get_double(o);
        return MM_OK;
    }
    if (!json_object_is_type(o, json_type_array) || json_object_array_length(o) != 3)
        return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\" must be a number or a list of 3 numbers (RGB)", path, key);
    for (int c = 0; c < 3; c++) {
        json_object *x = json_object_array_get_idx(o, c);
        if (!is_number(x))
            return mm_error_set(MM_ERR_FORMAT, "%s: \"%s\"[%d] is not a number", path, key, c);
        v[c] = (float)json_object_get_double(x); /* numpy's float32 array of the list */
    }
    return MM_OK;
}

static mm_status parse(json_object *root, const char *path, mm_image_params *p)
{
    if (!json_object_is_type(root, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: not a JSON object", path);
    json_object *t = get(root, "image_processor_type");
    if (!t)
        t = get(root, "feature_extractor_type");
    const char *type = t && json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
    bool clip;
    if (!type)
        return mm_error_set(MM_ERR_FORMAT, "%s: no image_processor_type (or feature_extractor_type)", path);
    if (!strcmp(type, "CLIPImageProcessor") || !strcmp(type, "CLIPFeatureExtractor"))
        clip = true;
    else if (!strcmp(type, "ViTImageProcessor") || !strcmp(type, "ViTFeatureExtractor"))
        clip = false;
    else
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: image processor %s (CLIP and ViT ones are supported)", path,
                            type);
    *p = clip ? mm_image_params_clip() : mm_image_params_vit();

    mm_status st;
    json_object *o;
    int32_t resample = (int32_t)p->resample;
    if ((st = get_bool(root, "do_resize", path, &p->do_resize)) != MM_OK ||
        (st = get_size(root, "size", path, !clip, clip, &p->shortest_edge, &p->resize_height, &p->resize_width)) !=
            MM_OK ||
        (st = get_bool(root, "do_center_crop", path, &p->do_center_crop)) != MM_OK ||
        (st = get_size(root, "crop_size", path, true, false, &(int32_t){0}, &p->crop_height, &p->crop_width)) !=
            MM_OK ||
        (st = get_bool(root, "do_rescale", path, &p->do_rescale)) != MM_OK ||
        (st = get_bool(root, "do_normalize", path, &p->do_normalize)) != MM_OK ||
        (st = get_bool(root, "do_convert_rgb", path, &p->do_convert_rgb)) != MM_OK ||
        (st = get_triple(root, "image_mean", path, p->image_mean)) != MM_OK ||
        (st = get_triple(root, "image_std", path, p->image_std)) != MM_OK)
        return st;
    if ((o = get(root, "resample")) && (st = as_int(o, "resample", path, &resample)) != MM_OK)
        return st;
    p->resample = (mm_resample)resample;
    if ((o = get(root, "rescale_factor"))) {
        if (!is_number(o))
            return mm_error_set(MM_ERR_FORMAT, "%s: \"rescale_factor\" must be a number", path);
        p->rescale_factor = json_object_get_double(o);
    }
    if (!clip && p->do_center_crop)
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: ViT processors do not centre crop (do_center_crop is true)",
                            path);
    return check_params(p, path);
}

mm_status mm_image_proc_init_params(const mm_image_params *p, mm_image_proc **out)
{
    if (!p || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_image_proc_init_params: NULL argument");
    *out = NULL;
    mm_status st = check_params(p, "image processor parameters");
    if (st != MM_OK)
        return st;
    mm_image_proc *pp = malloc(sizeof *pp);
    if (!pp)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    pp->p = *p;
    *out = pp;
    return MM_OK;
}

mm_status mm_image_proc_init(const char *path, mm_image_proc **out)
{
    if (!path || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_image_proc_init: NULL argument");
    *out = NULL;
    char file[4096];
    json_object *root = NULL;
    mm_status st = mm_media_preprocessor_config(path, file, &root);
    if (st != MM_OK)
        return st;
    mm_image_params p;
    st = parse(root, file, &p);
    json_object_put(root);
    if (st != MM_OK)
        return st;
    return mm_image_proc_init_params(&p, out);
}

void mm_image_proc_free(mm_image_proc *pp)
{
    free(pp);
}

mm_image_params mm_image_proc_get_params(const mm_image_proc *pp)
{
    return pp->p;
}

/* The resize target: transformers' get_resize_output_image_size, the long
 * side int()-truncated. False when that side would not fit an int32 (a
 * sliver of an image), which nothing could resize to anyway. */
static bool resize_size(const mm_image_params *p, int32_t w, int32_t h, int32_t *ow, int32_t *oh)
{
    if (!p->do_resize) {
        *ow = w;
        *oh = h;
    } else if (p->shortest_edge > 0) {
        const int32_t s = p->shortest_edge, shrt = w <= h ? w : h, lng = w <= h ? h : w;
        const double l = (double)((int64_t)s * lng) / shrt;
        if (l >= INT32_MAX)
            return false;
        *ow = w <= h ? s : (int32_t)l;
        *oh = w <= h ? (int32_t)l : s;
    } else {
        *ow = p->resize_width;
        *oh = p->resize_height;
    }
    return true;
}

/* transformers' center_crop: offsets floor((size - crop) / 2); where the
 * image is smaller it is first padded (with black) to at least the crop,
 * placed at floor((padded - size) / 2), and the window is cut to the padded
 * image, which for an odd difference leaves it one short. */
typedef struct {
    int64_t top, left;  /* in image coordinates (negative: padding) */
    int32_t h, w;       /* the output */
} crop_window;

static crop_window crop_of(const mm_image_params *p, int32_t w, int32_t h)
{
    if (!p->do_center_crop)
        return (crop_window){0, 0, h, w};
    const int64_t ch = p->crop_height, cw = p->crop_width;
    int64_t top = (int64_t)floor((h - ch) / 2.0), left = (int64_t)floor((w - cw) / 2.0);
    if (top >= 0 && left >= 0 && top + ch <= h && left + cw <= w)
        return (crop_window){top, left, (int32_t)ch, (int32_t)cw};
    const int64_t nh = ch > h ? ch : h, nw = cw > w ? cw : w;
    const int64_t tp = (nh - h) / 2, lp = (nw - w) / 2;
    int64_t t0 = top + tp, t1 = top + ch + tp, l0 = left + lp, l1 = left + cw + lp;
    t0 = t0 < 0 ? 0 : t0;
    l0 = l0 < 0 ? 0 : l0;
    t1 = t1 > nh ? nh : t1;
    l1 = l1 > nw ? nw : l1;
    return (crop_window){t0 - tp, l0 - lp, (int32_t)(t1 - t0), (int32_t)(l1 - l0)};
}

mm_status mm_image_proc_output_size(const mm_image_proc *pp, const mm_image *img, int32_t *width, int32_t *height)
{
    if (!pp || !img || !width || !height)
        return mm_error_set(MM_ERR_INVALID, "mm_image_proc_output_size: NULL argument");
    int32_t w = 0, h = 0;
    if (!resize_size(&pp->p, img->w, img->h, &w, &h) || w < 1 || h < 1)
        return mm_error_set(MM_ERR_INVALID, "a %dx%d image resizes to nothing or beyond 2^31 pixels a side", img->w,
                            img->h);
    /* A sliver (1 x 6000) to a shortest edge of 224 would be 224 x 1344000. */
    if ((int64_t)w * h > MM_IMAGE_MAX_PIXELS_DEFAULT)
        return mm_error_set(MM_ERR_NOMEM, "a %dx%d image would resize to %dx%d, more than %lld pixels", img->w, img->h,
                            w, h, (long long)MM_IMAGE_MAX_PIXELS_DEFAULT);
    crop_window c = crop_of(&pp->p, w, h);
    if (pp->p.do_center_crop && (c.w != pp->p.crop_width || c.h != pp->p.crop_height))
        /* transformers would return this odd size, which no model takes. */
        return mm_error_set(MM_ERR_UNSUPPORTED,
                            "a %dx%d image (%dx%d after resizing) centre-crops to %dx%d in transformers, not %dx%d",
                            img->w, img->h, w, h, c.w, c.h, pp->p.crop_width, pp->p.crop_height);
    *width = c.w;
    *height = c.h;
    return MM_OK;
}

mm_status mm_image_proc_compute(const mm_image_proc *pp, const mm_image *img, float *out)
{
    int32_t ow, oh;
    mm_status st = out ? mm_image_proc_output_size(pp, img, &ow, &oh)
                       : mm_error_set(MM_ERR_INVALID, "mm_image_proc_compute: NULL argument");
    if (st != MM_OK)
        return st;
    const mm_image_params *p = &pp->p;
    int32_t rw = 0, rh = 0;
    resize_size(p, img->w, img->h, &rw, &rh); /* checked by mm_image_proc_output_size */
    mm_image *resized = NULL;
    const mm_image *src = img;
    if (p->do_resize) {
        if ((st = mm_image_resize(img, rw, rh, p->resample, &resized)) != MM_OK)
            return st;
        src = resized;
    }
    const crop_window c = crop_of(p, rw, rh);
    /* Rescaled and normalised values of each byte, per channel: the same
     * arithmetic as per pixel, done 256 times instead of once a pixel. */
    float lut[3][256];
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++) {
            float x = p->do_rescale ? (float)((double)v * p->rescale_factor) : (float)v;
            if (p->do_normalize)
                x = (x - p->image_mean[ch]) / p->image_std[ch];
            lut[ch][v] = x;
        }
    const size_t plane = (size_t)ow * oh;
    for (int32_t y = 0; y < oh; y++) {
        const int64_t sy = c.top + y;
        for (int32_t x = 0; x < ow; x++) {
            const int64_t sx = c.left + x;
            const bool inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw;
            const uint8_t *px = inside ? src->rgb + ((size_t)sy * rw + (size_t)sx) * 3 : (const uint8_t *)"\0\0\0";
            for (int ch = 0; ch < 3; ch++)
                out[ch * plane + (size_t)y * ow + x] = lut[ch][px[ch]];
        }
    }
    mm_image_free(resized);
    return MM_OK;
}
