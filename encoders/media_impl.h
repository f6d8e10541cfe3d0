/* Internal to libmm-media: what its files share. */
#ifndef MM_MEDIA_IMPL_H
#define MM_MEDIA_IMPL_H

#include "mm/media.h"

/* Checks that `p` describes an extractor this library can build (ranges,
 * consistency); `what` names the source in the message. */
mm_status mm_mel_params_check(const mm_mel_params *p, const char *what);

/* Slaney-scale, Slaney-normalised triangular filters as transformers'
 * mel_filter_bank(n_bins, n_mels, fmin, fmax, sampling_rate, norm="slaney",
 * mel_scale="slaney") computes them: out[k * n_mels + m] for FFT bin k. */
mm_status mm_mel_filter_bank(int32_t n_bins, int32_t n_mels, double f_lo, double f_hi, int32_t sampling_rate,
                             double *out);

/* Reads descriptor `fd` to its end into a malloc'd buffer (at most
 * `max_bytes`); `what` names it in messages. */
mm_status mm_media_read_fd(int fd, const char *what, size_t max_bytes, unsigned char **data, size_t *size);
/* Opens `path` for reading, "-" meaning standard input: *fd, the name for
 * messages (*what) and its fstat. A folder or an unopenable path is an
 * error naming it. Close with mm_media_close. */
struct stat;
mm_status mm_media_open(const char *path, int *fd, const char **what, struct stat *sb);
void mm_media_close(const char *path, int fd); /* leaves standard input open */

/* ---- images ---- */

struct mm_image {
    uint8_t *rgb; /* w * h * 3 */
    int32_t w, h;
    const char *format; /* static string */
    int32_t orientation;
};

/* Refuses a header size of zero, above INT32 sides, or above `max_pixels`
 * (already defaulted), before the caller allocates anything. */
mm_status mm_image_check_size(int64_t w, int64_t h, int64_t max_pixels, const char *what, const char *format);
/* A new image with uninitialised pixels (sizes already checked). */
mm_status mm_image_alloc(int32_t w, int32_t h, const char *format, const char *what, mm_image **out);

/* One decoder per format: the complete file in memory, the limit already
 * defaulted. The EXIF orientation is applied by each. */
mm_status mm_image_decode_png(const uint8_t *data, size_t size, const char *what, int64_t max_pixels,
                              mm_image **out);
mm_status mm_image_decode_jpeg(const uint8_t *data, size_t size, const char *what, int64_t max_pixels,
                               mm_image **out);
mm_status mm_image_decode_webp(const uint8_t *data, size_t size, const char *what, int64_t max_pixels,
                               mm_image **out);

/* The Orientation tag (0x0112) of IFD0 of an EXIF block, as Pillow's
 * getexif() finds it: `data` is the block with or without its "Exif\0\0"
 * prefix. 1 when absent, unreadable or out of range. */
int32_t mm_exif_orientation(const uint8_t *data, size_t size);
/* Applies orientation 2..8 as ImageOps.exif_transpose does (the pixels are
 * replaced; 1 leaves them). */
mm_status mm_image_orient(mm_image *img, int32_t orientation, const char *what);

/* preprocessor_config.json of a model folder, or the JSON file `path`
 * itself, parsed into *root (json_object_put it); *file receives the path
 * read (for messages). */
struct json_object;
mm_status mm_media_preprocessor_config(const char *path, char file[4096], struct json_object **root);

#endif
