/* EXIF orientation: reading tag 0x0112 of IFD0 and applying it as Pillow's
 * ImageOps.exif_transpose does (transformers' load_image calls it), so
 * that a phone photo reaches the model upright in every decoder. */
#include "media_impl.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rd(const uint8_t *p, int n, bool big)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint32_t)p[big ? i : n - 1 - i] << (8 * (n - 1 - i));
    return v;
}

int32_t mm_exif_orientation(const uint8_t *d, size_t n)
{
    if (n >= 6 && memcmp(d, "Exif\0\0", 6) == 0) {
        d += 6;
        n -= 6;
    }
    if (n < 8)
        return 1;
    bool big;
    if (memcmp(d, "II*\0", 4) == 0)
        big = false;
    else if (memcmp(d, "MM\0*", 4) == 0)
        big = true;
    else
        return 1;
    uint32_t ifd = rd(d + 4, 4, big);
    if (ifd > n - 2)
        return 1;
    uint32_t count = rd(d + ifd, 2, big);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            break;
        if (rd(d + e, 2, big) != 0x0112)
            continue;
        uint32_t type = rd(d + e + 2, 2, big), cnt = rd(d + e + 4, 4, big);
        /* Pillow returns a tuple for counts above 1, which maps to no
         * transpose; the value of a single BYTE/SHORT/LONG sits inline. */
        if (cnt != 1)
            return 1;
        uint32_t v;
        switch (type) {
        case 1: /* BYTE */
        case 6: /* SBYTE */
            v = d[e + 8];
            break;
        case 3: /* SHORT */
        case 8: /* SSHORT */
            v = rd(d + e + 8, 2, big);
            break;
        case 4: /* LONG */
        case 9: /* SLONG */
            v = rd(d + e + 8, 4, big);
            break;
        default:
            return 1;
        }
        return v >= 1 && v <= 8 ? (int32_t)v : 1;
    }
    return 1;
}

mm_status mm_image_orient(mm_image *img, int32_t orientation, const char *what)
{
    if (orientation < 2 || orientation > 8)
        return MM_OK;
    const int64_t W = img->w, H = img->h;
    /* 5..8 swap the sides. */
    const bool swap = orientation >= 5;
    const int64_t ow = swap ? H : W, oh = swap ? W : H;
    uint8_t *dst = malloc((size_t)(W * H * 3));
    if (!dst)
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory rotating a %lldx%lld image", what, (long long)W,
                            (long long)H);
    for (int64_t y = 0; y < oh; y++) {
        for (int64_t x = 0; x < ow; x++) {
            int64_t sx, sy; /* the source of output pixel (x, y) */
            switch (orientation) {
            case 2: sx = W - 1 - x; sy = y; break;             /* FLIP_LEFT_RIGHT */
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;     /* ROTATE_180      */
            case 4: sx = x; sy = H - 1 - y; break;             /* FLIP_TOP_BOTTOM */
            case 5: sx = y; sy = x; break;                     /* TRANSPOSE       */
            case 6: sx = y; sy = H - 1 - x; break;             /* ROTATE_270      */
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;     /* TRANSVERSE      */
            default: sx = W - 1 - y; sy = x; break;            /* 8: ROTATE_90    */
            }
            memcpy(dst + (y * ow + x) * 3, img->rgb + (sy * W + sx) * 3, 3);
        }
    }
    free(img->rgb);
    img->rgb = dst;
    img->w = (int32_t)ow;
    img->h = (int32_t)oh;
    img->orientation = orientation;
    return MM_OK;
}
