/* PNG through libpng, to the RGB bytes Pillow's open + convert("RGB")
 * gives: palette and low-bit grey expanded, alpha and tRNS dropped (not
 * composited), gamma and sBIT ignored; 16-bit samples keep their high byte,
 * except 16-bit grey without alpha, which Pillow reads as 32-bit "I" and
 * clips to 255 when converting (a Pillow quirk that parity requires).
 *
 * libpng reports errors by longjmp: everything the error path must free
 * lives in a context owned by the caller of the function that calls
 * setjmp, so no local of that function is read after a longjmp. */
#include "media_impl.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    const char *what;
    png_structp png;
    png_infop info;
    uint8_t *rows; /* decoded rows before conversion (the whole image when interlaced) */
    mm_image *img;
    bool rows_done; /* every pixel is in img: a damaged tail is tolerated */
    char msg[160];
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    /* Ancillary-chunk trouble Pillow also ignores; the library never prints. */
}

static void on_read(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos)
        png_error(png, "truncated file (ends before the image data does)");
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

/* One row of `ch` channels of 8 or 16 bits -> RGB. */
static void convert_row(const uint8_t *src, uint8_t *dst, uint32_t w, int ch, bool wide)
{
    const int step = wide ? 2 : 1; /* big-endian: the high byte comes first */
    for (uint32_t x = 0; x < w; x++, dst += 3, src += (size_t)ch * step) {
        switch (ch) {
        case 1:
            if (wide) {
                unsigned v = (unsigned)src[0] << 8 | src[1];
                dst[0] = dst[1] = dst[2] = v > 255 ? 255 : (uint8_t)v;
            } else {
                dst[0] = dst[1] = dst[2] = src[0];
            }
            break;
        case 2:
            dst[0] = dst[1] = dst[2] = src[0];
            break;
        default: /* 3 or 4 */
            dst[0] = src[0];
            dst[1] = src[step];
            dst[2] = src[2 * step];
            break;
        }
    }
}

/* The EXIF orientation, from an eXIf chunk before or after the pixels. */
static mm_status finish(png_ctx *c)
{
    png_bytep exif = NULL;
    png_uint_32 n = 0;
    if (png_get_eXIf_1(c->png, c->info, &n, &exif) & PNG_INFO_eXIf)
        return mm_image_orient(c->img, mm_exif_orientation(exif, n), c->what);
    return MM_OK;
}

static mm_status run(png_ctx *c, int64_t max_pixels)
{
    if (setjmp(png_jmpbuf(c->png))) {
        /* Damage after the last pixel (a missing IEND, a bad trailing
         * chunk): Pillow loads such files, so do we. */
        if (c->rows_done)
            return finish(c);
        return mm_error_set(MM_ERR_FORMAT, "%s: corrupt PNG: %s", c->what, c->msg);
    }
    png_set_read_fn(c->png, c, on_read);
    png_read_info(c->png, c->info);

    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    mm_status st = mm_image_check_size(w, h, max_pixels, c->what, "PNG");
    if (st != MM_OK)
        return st;
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(c->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(c->png);
    const int passes = png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);

    const int ch = png_get_channels(c->png, c->info);
    const bool wide = png_get_bit_depth(c->png, c->info) == 16;
    const size_t rowbytes = png_get_rowbytes(c->png, c->info);
    if (ch < 1 || ch > 4 || rowbytes != (size_t)w * (size_t)ch * (wide ? 2 : 1))
        return mm_error_set(MM_ERR_FORMAT, "%s: unexpected PNG layout (%d channels, %zu bytes a row)", c->what, ch,
                            rowbytes);
    /* Interlaced passes fill each row in several visits: keep them all. */
    const size_t n_rows = interlace != PNG_INTERLACE_NONE ? h : 1;
    if ((st = mm_image_alloc((int32_t)w, (int32_t)h, "PNG", c->what, &c->img)) != MM_OK)
        return st;
    if (n_rows > SIZE_MAX / rowbytes || !(c->rows = malloc(rowbytes * n_rows)))
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory for a %ux%u PNG", c->what, (unsigned)w, (unsigned)h);
    for (int p = 0; p < passes; p++)
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *row = c->rows + (n_rows > 1 ? y * rowbytes : 0);
            png_read_row(c->png, row, NULL);
            if (n_rows == 1)
                convert_row(row, c->img->rgb + (size_t)y * w * 3, w, ch, wide);
        }
    if (n_rows > 1)
        for (png_uint_32 y = 0; y < h; y++)
            convert_row(c->rows + y * rowbytes, c->img->rgb + (size_t)y * w * 3, w, ch, wide);
    c->rows_done = true;
    /* The chunks after the image data, for an eXIf there. */
    png_read_end(c->png, c->info);
    return finish(c);
}

mm_status mm_image_decode_png(const uint8_t *data, size_t size, const char *what, int64_t max_pixels,
                              mm_image **out)
{
    png_ctx c = {.data = data, .size = size, .what = what};
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (c.png)
        c.info = png_create_info_struct(c.png);
    if (!c.png || !c.info) {
        png_destroy_read_struct(c.png ? &c.png : NULL, NULL, NULL);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory starting libpng", what);
    }
    mm_status st = run(&c, max_pixels);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    if (st != MM_OK) {
        mm_image_free(c.img);
        return st;
    }
    *out = c.img;
    return MM_OK;
}
