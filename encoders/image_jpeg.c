/* JPEG through libjpeg (libjpeg-turbo), set up as Pillow sets it up, so the
 * bytes equal Pillow's: the library's defaults (islow DCT, fancy
 * upsampling), output RGB for 3 components, grey for 1, and for 4 CMYK
 * taken as Adobe's inverted CMYK (Pillow's "CMYK;I") converted with
 * Pillow's cmyk2rgb. A file that ends before its last scan is an error, as
 * Pillow's "image file is truncated"; libjpeg's other corrupt-data warnings
 * are tolerated, as Pillow tolerates them.
 *
 * libjpeg reports errors through error_exit, which longjmps here: what the
 * error path frees lives in a context owned by the caller of the function
 * that calls setjmp, so no local of that function is read after a longjmp. */
#include "media_impl.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg sees only this */
    jmp_buf jmp;
    bool rows_done; /* every pixel decoded: trouble after that is tolerated */
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    bool created;
    const char *what;
    int32_t orientation;
    uint8_t *row;
    mm_image *img;
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

static void on_emit(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level >= 0)
        return; /* trace messages */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF && !e->rows_done) {
        snprintf(e->msg, sizeof e->msg, "truncated file (ends before the image data does)");
        longjmp(e->jmp, 1);
    }
    cinfo->err->num_warnings++;
}

/* Pillow's MULDIV255: a * b / 255, rounded, in integers. */
static inline int muldiv255(int a, int b)
{
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static void convert_row(const uint8_t *src, uint8_t *dst, uint32_t w, int ch)
{
    if (ch == 3) {
        memcpy(dst, src, (size_t)w * 3);
    } else if (ch == 1) {
        for (uint32_t x = 0; x < w; x++, dst += 3)
            dst[0] = dst[1] = dst[2] = src[x];
    } else {
        for (uint32_t x = 0; x < w; x++, dst += 3, src += 4) {
            /* Stored inverted: ink c is 255 - src[c], so 255 - K is src[3]. */
            const int nk = src[3];
            for (int c = 0; c < 3; c++)
                dst[c] = (uint8_t)(nk - muldiv255(255 - src[c], nk));
        }
    }
}

/* The first APP1 block that starts "Exif\0" is the one Pillow reads. */
static int32_t find_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 && memcmp(m->data, "Exif\0", 5) == 0)
            return mm_exif_orientation(m->data, m->data_length);
    return 1;
}

static mm_status run(jpeg_ctx *c, const uint8_t *data, size_t size, int64_t max_pixels)
{
    if (setjmp(c->err.jmp)) {
        if (c->err.rows_done)
            return mm_image_orient(c->img, c->orientation, c->what);
        return mm_error_set(MM_ERR_FORMAT, "%s: corrupt JPEG: %s", c->what, c->err.msg);
    }
    jpeg_create_decompress(&c->cinfo);
    c->created = true;
    jpeg_mem_src(&c->cinfo, data, (unsigned long)size);
    jpeg_save_markers(&c->cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&c->cinfo, TRUE);

    mm_status st = mm_image_check_size(c->cinfo.image_width, c->cinfo.image_height, max_pixels, c->what, "JPEG");
    if (st != MM_OK)
        return st;
    switch (c->cinfo.num_components) {
    case 1:
        c->cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case 3:
        c->cinfo.out_color_space = JCS_RGB;
        break;
    case 4: /* libjpeg turns YCCK into CMYK */
        c->cinfo.out_color_space = JCS_CMYK;
        break;
    default:
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: JPEG with %d components (only 1, 3 and 4 are images)", c->what,
                            c->cinfo.num_components);
    }
    c->orientation = find_orientation(&c->cinfo);
    jpeg_start_decompress(&c->cinfo);
    const uint32_t w = c->cinfo.output_width, h = c->cinfo.output_height;
    const int ch = c->cinfo.output_components;
    if (w != c->cinfo.image_width || h != c->cinfo.image_height || (ch != 1 && ch != 3 && ch != 4))
        return mm_error_set(MM_ERR_FORMAT, "%s: unexpected JPEG output (%ux%u, %d components)", c->what, w, h, ch);
    if ((st = mm_image_alloc((int32_t)w, (int32_t)h, "JPEG", c->what, &c->img)) != MM_OK)
        return st;
    if (!(c->row = malloc((size_t)w * (size_t)ch)))
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", c->what);
    while (c->cinfo.output_scanline < h) {
        const uint32_t y = c->cinfo.output_scanline;
        JSAMPROW rows[1] = {c->row};
        if (jpeg_read_scanlines(&c->cinfo, rows, 1) != 1)
            return mm_error_set(MM_ERR_FORMAT, "%s: corrupt JPEG: no data for row %u", c->what, y);
        convert_row(c->row, c->img->rgb + (size_t)y * w * 3, w, ch);
    }
    c->err.rows_done = true;
    jpeg_finish_decompress(&c->cinfo);
    return mm_image_orient(c->img, c->orientation, c->what);
}

mm_status mm_image_decode_jpeg(const uint8_t *data, size_t size, const char *what, int64_t max_pixels,
                               mm_image **out)
{
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", what);
    c->what = what;
    c->orientation = 1;
    c->cinfo.err = jpeg_std_error(&c->err.pub);
    c->err.pub.error_exit = on_error_exit;
    c->err.pub.emit_message = on_emit;
    mm_status st = run(c, data, size, max_pixels);
    if (c->created)
        jpeg_destroy_decompress(&c->cinfo);
    free(c->row);
    if (st == MM_OK)
        *out = c->img;
    else
        mm_image_free(c->img);
    free(c);
    return st;
}
