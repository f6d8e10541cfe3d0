/* Decoded images: the object, loading from a path or memory, and finding
 * the format from the first bytes (a renamed or extension-less file decodes
 * as what it is). The decoders live in image_png.c, image_jpeg.c and
 * image_webp.c. */
#include "media_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Compressed files bigger than this are not images anyone feeds a model;
 * the limit keeps a pipe from driving allocation. */
#define MAX_FILE_BYTES ((size_t)1 << 30)

void mm_image_free(mm_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    free(img);
}

int32_t mm_image_width(const mm_image *img)
{
    return img->w;
}

int32_t mm_image_height(const mm_image *img)
{
    return img->h;
}

const uint8_t *mm_image_pixels(const mm_image *img)
{
    return img->rgb;
}

const char *mm_image_source_format(const mm_image *img)
{
    return img->format;
}

int32_t mm_image_source_orientation(const mm_image *img)
{
    return img->orientation;
}

mm_status mm_image_check_size(int64_t w, int64_t h, int64_t max_pixels, const char *what, const char *format)
{
    if (w <= 0 || h <= 0)
        return mm_error_set(MM_ERR_FORMAT, "%s: %s header claims a %lldx%lld image", what, format, (long long)w,
                            (long long)h);
    if (w > INT32_MAX || h > INT32_MAX || w > max_pixels / h)
        return mm_error_set(MM_ERR_NOMEM, "%s: %s image of %lldx%lld pixels is larger than the limit of %lld pixels",
                            what, format, (long long)w, (long long)h, (long long)max_pixels);
    return MM_OK;
}

mm_status mm_image_alloc(int32_t w, int32_t h, const char *format, const char *what, mm_image **out)
{
    mm_image *img = calloc(1, sizeof *img);
    uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
    if (!img || !rgb) {
        free(img);
        free(rgb);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory for a %dx%d image", what, w, h);
    }
    img->rgb = rgb;
    img->w = w;
    img->h = h;
    img->format = format;
    img->orientation = 1;
    *out = img;
    return MM_OK;
}

mm_status mm_image_from_rgb(const uint8_t *rgb, int32_t width, int32_t height, mm_image **out)
{
    if (!rgb || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_image_from_rgb: NULL argument");
    *out = NULL;
    if (width <= 0 || height <= 0 || (int64_t)width * height > INT64_MAX / 3)
        return mm_error_set(MM_ERR_INVALID, "mm_image_from_rgb: bad size %dx%d", width, height);
    mm_status st;
    if ((st = mm_image_alloc(width, height, "RGB", "mm_image_from_rgb", out)) != MM_OK)
        return st;
    memcpy((*out)->rgb, rgb, (size_t)width * (size_t)height * 3);
    return MM_OK;
}

/* What the first bytes say, for the message when no decoder applies. */
static const char *sniff_other(const uint8_t *d, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *name;
    } known[] = {
        {"GIF8", 4, "GIF"},          {"BM", 2, "BMP"},        {"II*\0", 4, "TIFF"},  {"MM\0*", 4, "TIFF"},
        {"\0\0\1\0", 4, "ICO"},      {"8BPS", 4, "PSD"},      {"%PDF", 4, "PDF"},    {"RIFF", 4, "RIFF (not WebP)"},
        {"\x00\x00\x00\x0cjP", 6, "JPEG 2000"}, {"\xff\x4f\xff\x51", 4, "JPEG 2000"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && memcmp(d, known[i].magic, known[i].len) == 0)
            return known[i].name;
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0)
        return "ISO media (HEIF/AVIF/MP4)";
    return NULL;
}

static mm_status decode(const uint8_t *d, size_t n, const char *what, int64_t max_pixels, mm_image **out)
{
    if (max_pixels <= 0)
        max_pixels = MM_IMAGE_MAX_PIXELS_DEFAULT;
    if (n == 0)
        return mm_error_set(MM_ERR_FORMAT, "%s: empty (0 bytes)", what);
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return mm_image_decode_png(d, n, what, max_pixels, out);
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
        return mm_image_decode_jpeg(d, n, what, max_pixels, out);
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return mm_image_decode_webp(d, n, what, max_pixels, out);
    const char *other = sniff_other(d, n);
    if (other)
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: a %s file; images must be PNG, JPEG or WebP", what, other);
    return mm_error_set(MM_ERR_FORMAT, "%s: not an image (neither PNG, JPEG nor WebP)", what);
}

mm_status mm_image_load_memory(const void *data, size_t size, int64_t max_pixels, mm_image **out)
{
    if ((!data && size) || !out || max_pixels < 0)
        return mm_error_set(MM_ERR_INVALID, "mm_image_load_memory: NULL argument or negative limit");
    *out = NULL;
    return decode(data, size, "image in memory", max_pixels, out);
}

mm_status mm_image_load(const char *path, int64_t max_pixels, mm_image **out)
{
    if (!path || !out || max_pixels < 0)
        return mm_error_set(MM_ERR_INVALID, "mm_image_load: NULL argument or negative limit");
    *out = NULL;
    int fd;
    const char *what;
    struct stat sb;
    mm_status st = mm_media_open(path, &fd, &what, &sb);
    if (st != MM_OK)
        return st;
    unsigned char *data = NULL;
    size_t size = 0;
    st = mm_media_read_fd(fd, what, MAX_FILE_BYTES, &data, &size);
    mm_media_close(path, fd);
    if (st == MM_OK)
        st = decode(data, size, what, max_pixels, out);
    free(data);
    return st;
}
