/* Pillow's Image.resize, bit for bit (Pillow 9.4, libImaging/Resample.c and
 * Geometry.c), because the models were trained and their references made
 * through it: a float resize differs by up to 0.1 after normalisation.
 *
 * Per output pixel, the filter is evaluated at the input pixels within its
 * support around the pixel's centre, the support widened by the downscale
 * factor (antialiasing); the weights are normalised to sum 1, then turned
 * into 22-bit fixed point. The horizontal pass runs first, over the input
 * rows the vertical pass will read, into 8 bits rounded and clipped; then
 * the vertical pass. A pass whose size is unchanged is skipped. */
#include "media_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)
/* The largest output accepted (pixels): far above any model input. */
#define MAX_OUT_PIXELS ((int64_t)1 << 30)

static double box_filter(double x)
{
    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x == 0.0)
        return 1.0;
    if (x >= 1.0)
        return 0.0;
    x = x * M_PI;
    return sin(x) / x * (0.54f + 0.46f * cos(x)); /* float constants, as Pillow has them */
}

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x)
{
    return -3.0 <= x && x < 3.0 ? sinc_filter(x) * sinc_filter(x / 3) : 0.0;
}

typedef struct {
    double (*fn)(double);
    double support;
} filter;

/* Weights of every output pixel along one axis: bounds[2i] is the first
 * input pixel, bounds[2i+1] how many; kk[i * ksize + j] their fixed-point
 * weights. Returns ksize, or 0 when out of memory. */
static int precompute(int in_size, int out_size, const filter *f, int **boundsp, int32_t **kkp)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc(sizeof(double) * (size_t)ksize);
    int32_t *kk = malloc(sizeof(int32_t) * (size_t)out_size * (size_t)ksize);
    int *bounds = malloc(sizeof(int) * (size_t)out_size * 2);
    if (!k || !kk || !bounds) {
        free(k);
        free(kk);
        free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int32_t *kx = kk + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++) {
            double w = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            kx[x] = (int32_t)(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
        }
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    free(k);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static inline uint8_t clip8(int64_t ss)
{
    if (ss < 0)
        return 0;
    ss >>= PRECISION_BITS;
    return ss > 255 ? 255 : (uint8_t)ss;
}

/* out[y][x] = sum_j in[y + offset][bounds[2x] + j] * k[x][j], RGB. */
static void pass_horizontal(uint8_t *out, int out_w, int out_h, const uint8_t *in, int in_w, int offset, int ksize,
                            const int *bounds, const int32_t *kk)
{
    for (int yy = 0; yy < out_h; yy++) {
        const uint8_t *row = in + (size_t)(yy + offset) * in_w * 3;
        uint8_t *o = out + (size_t)yy * out_w * 3;
        for (int xx = 0; xx < out_w; xx++) {
            const int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            int64_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xmax; x++) {
                const uint8_t *p = row + (size_t)(x + xmin) * 3;
                s0 += p[0] * (int64_t)k[x];
                s1 += p[1] * (int64_t)k[x];
                s2 += p[2] * (int64_t)k[x];
            }
            o[xx * 3] = clip8(s0);
            o[xx * 3 + 1] = clip8(s1);
            o[xx * 3 + 2] = clip8(s2);
        }
    }
}

static void pass_vertical(uint8_t *out, int w, int out_h, const uint8_t *in, int ksize, const int *bounds,
                          const int32_t *kk)
{
    for (int yy = 0; yy < out_h; yy++) {
        const int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        const int32_t *k = kk + (size_t)yy * ksize;
        uint8_t *o = out + (size_t)yy * w * 3;
        for (int xx = 0; xx < w * 3; xx++) {
            int64_t s = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++)
                s += in[(size_t)(y + ymin) * w * 3 + xx] * (int64_t)k[y];
            o[xx] = clip8(s);
        }
    }
}

/* ImagingScaleAffine: the source of each output pixel by stepping the
 * centre in double, as Pillow does. */
static void nearest(uint8_t *out, int out_w, int out_h, const uint8_t *in, int in_w, int in_h, int *xintab)
{
    const double ax = (double)in_w / out_w, ay = (double)in_h / out_h;
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int x = 0; x < out_w; x++, xo += ax) {
        int xi = xo < 0.0 ? -1 : (int)xo;
        xintab[x] = xi < in_w ? xi : in_w - 1;
    }
    for (int y = 0; y < out_h; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi >= in_h)
            yi = in_h - 1;
        for (int x = 0; x < out_w; x++)
            memcpy(out + ((size_t)y * out_w + x) * 3, in + ((size_t)yi * in_w + xintab[x]) * 3, 3);
    }
}

mm_status mm_image_resize(const mm_image *img, int32_t width, int32_t height, mm_resample filter_id, mm_image **out)
{
    static const filter filters[] = {
        [MM_RESAMPLE_LANCZOS] = {lanczos_filter, 3.0}, [MM_RESAMPLE_BILINEAR] = {bilinear_filter, 1.0},
        [MM_RESAMPLE_BICUBIC] = {bicubic_filter, 2.0}, [MM_RESAMPLE_BOX] = {box_filter, 0.5},
        [MM_RESAMPLE_HAMMING] = {hamming_filter, 1.0},
    };
    if (!img || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_image_resize: NULL argument");
    *out = NULL;
    if ((int)filter_id < 0 || filter_id > MM_RESAMPLE_HAMMING)
        return mm_error_set(MM_ERR_INVALID, "mm_image_resize: unknown filter %d (Pillow's are 0..5)", (int)filter_id);
    if (width <= 0 || height <= 0 || (int64_t)width * height > MAX_OUT_PIXELS)
        return mm_error_set(MM_ERR_INVALID, "mm_image_resize: bad output size %dx%d", width, height);
    const int in_w = img->w, in_h = img->h;
    mm_image *o;
    mm_status st = mm_image_alloc(width, height, "RGB", "mm_image_resize", &o);
    if (st != MM_OK)
        return st;
    if (width == in_w && height == in_h) {
        memcpy(o->rgb, img->rgb, (size_t)in_w * in_h * 3);
        *out = o;
        return MM_OK;
    }
    if (filter_id == MM_RESAMPLE_NEAREST) {
        int *xintab = malloc(sizeof(int) * (size_t)width);
        if (!xintab) {
            mm_image_free(o);
            return mm_error_set(MM_ERR_NOMEM, "mm_image_resize: out of memory");
        }
        nearest(o->rgb, width, height, img->rgb, in_w, in_h, xintab);
        free(xintab);
        *out = o;
        return MM_OK;
    }

    const filter *f = &filters[filter_id];
    const bool need_h = width != in_w, need_v = height != in_h;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    uint8_t *tmp = NULL;
    int ksh = precompute(in_w, width, f, &bh, &kh);
    int ksv = ksh ? precompute(in_h, height, f, &bv, &kv) : 0;
    if (!ksh || !ksv) {
        st = mm_error_set(MM_ERR_NOMEM, "mm_image_resize: out of memory for the filter weights");
        goto done;
    }
    const uint8_t *src = img->rgb;
    if (need_h) {
        /* Only the rows the vertical pass reads; its bounds shift with them. */
        const int first = bv[0], last = bv[height * 2 - 2] + bv[height * 2 - 1];
        for (int i = 0; i < height; i++)
            bv[i * 2] -= first;
        uint8_t *dst = need_v ? (tmp = malloc((size_t)width * (size_t)(last - first) * 3)) : o->rgb;
        if (!dst) {
            st = mm_error_set(MM_ERR_NOMEM, "mm_image_resize: out of memory");
            goto done;
        }
        pass_horizontal(dst, width, last - first, img->rgb, in_w, first, ksh, bh, kh);
        src = dst;
    }
    if (need_v)
        pass_vertical(o->rgb, width, height, src, ksv, bv, kv);
done:
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    free(tmp);
    if (st != MM_OK) {
        mm_image_free(o);
        return st;
    }
    *out = o;
    return MM_OK;
}
