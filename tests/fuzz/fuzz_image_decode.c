/* libFuzzer target: arbitrary bytes as an image file (PNG, JPEG, WebP by
 * their first bytes) through mm_image_load_memory, the entry point every
 * image goes through. It must refuse with a message or decode; decoded
 * pixels are read end to end (ASan checks their bounds) and resized with
 * Pillow's bicubic; the EXIF parser also gets the raw bytes. The pixel
 * limit is lowered so that inputs stay fast. Build: meson -Dfuzz=true with
 * CC=clang; seeds: tests/fuzz/image_decode_seeds/ (16x8 PNGs of five kinds,
 * baseline/progressive/grey/CMYK JPEGs with EXIF, WebP lossless/lossy/alpha);
 * run: fuzz_image_decode -dict=tests/fuzz/image_decode.dict corpus */
#include "media_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_sink ^= (uint8_t)mm_exif_orientation(data, size);
    mm_image *img = NULL;
    mm_status st = mm_image_load_memory(data, size, (int64_t)1 << 22, &img);
    if (st != MM_OK) {
        if (img || !mm_error_message()[0])
            __builtin_trap(); /* a failure leaves no image and says why */
        return 0;
    }
    const int32_t w = mm_image_width(img), h = mm_image_height(img);
    if (w < 1 || h < 1 || (int64_t)w * h > ((int64_t)1 << 22))
        __builtin_trap();
    const uint8_t *p = mm_image_pixels(img);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        g_sink ^= p[i];
    mm_image *r = NULL;
    if (mm_image_resize(img, 1 + w % 7, 1 + h % 5, MM_RESAMPLE_BICUBIC, &r) != MM_OK)
        __builtin_trap();
    g_sink ^= mm_image_pixels(r)[0];
    mm_image_free(r);
    mm_image_free(img);
    return 0;
}
