/* WebP through libwebp's animation decoder, the path Pillow takes for every
 * WebP (still ones are one-frame animations): the first frame composed on
 * the canvas as RGBA, alpha then dropped. The EXIF chunk, read through the
 * demuxer, gives the orientation. The canvas size from the header is
 * checked before the decoder allocates its canvas. */
#include "media_impl.h"

#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

static const char *status_name(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated file";
    default: return "unknown error";
    }
}

mm_status mm_image_decode_webp(const uint8_t *data, size_t size, const char *what, int64_t max_pixels,
                               mm_image **out)
{
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(data, size, &f);
    if (vs != VP8_STATUS_OK)
        return mm_error_set(MM_ERR_FORMAT, "%s: corrupt WebP: %s", what, status_name(vs));
    mm_status st = mm_image_check_size(f.width, f.height, max_pixels, what, "WebP");
    if (st != MM_OK)
        return st;

    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: libwebp version mismatch", what);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPData wd = {data, size};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opt);
    if (!dec)
        return mm_error_set(MM_ERR_FORMAT, "%s: corrupt or truncated WebP (the demuxer refuses it)", what);
    WebPAnimInfo info;
    uint8_t *rgba = NULL;
    int ts = 0;
    if (!WebPAnimDecoderGetInfo(dec, &info))
        st = mm_error_set(MM_ERR_FORMAT, "%s: corrupt WebP (no canvas)", what);
    else if (info.canvas_width != (uint32_t)f.width || info.canvas_height != (uint32_t)f.height)
        st = mm_error_set(MM_ERR_FORMAT, "%s: corrupt WebP (canvas %ux%u, header %dx%d)", what, info.canvas_width,
                          info.canvas_height, f.width, f.height);
    else if (!WebPAnimDecoderGetNext(dec, &rgba, &ts))
        st = mm_error_set(MM_ERR_FORMAT, "%s: corrupt or truncated WebP (the first frame does not decode)", what);
    mm_image *img = NULL;
    if (st == MM_OK)
        st = mm_image_alloc(f.width, f.height, "WebP", what, &img);
    if (st == MM_OK) {
        const size_t n = (size_t)f.width * (size_t)f.height;
        for (size_t i = 0; i < n; i++)
            memcpy(img->rgb + i * 3, rgba + i * 4, 3);
        WebPChunkIterator it;
        int32_t orientation = 1;
        if (WebPDemuxGetChunk(WebPAnimDecoderGetDemuxer(dec), "EXIF", 1, &it)) {
            orientation = mm_exif_orientation(it.chunk.bytes, it.chunk.size);
            WebPDemuxReleaseChunkIterator(&it);
        }
        st = mm_image_orient(img, orientation, what);
    }
    WebPAnimDecoderDelete(dec);
    if (st != MM_OK) {
        mm_image_free(img);
        return st;
    }
    *out = img;
    return MM_OK;
}
