/* Sample-rate conversion with libsamplerate.
 *
 * SRC_SINC_BEST_QUALITY: a band-limited sinc with a 97% passband and ~97 dB
 * stop band, the closest of libsamplerate's converters to the one Whisper's
 * references go through (ffmpeg's swresample, a Kaiser-windowed sinc with a
 * 97% cutoff). On jfk.flac (44.1 kHz) -> 16 kHz its features are the nearest
 * to those of jfk.wav (tests/media measure it); the medium and fastest sincs
 * cut the band at 90% and 80%, which shows in the top mel bins. Its cost,
 * about a second per hour of 44.1 kHz audio on one core, is small beside the
 * model's. */
#include "media_impl.h"

#include <math.h>
#include <samplerate.h>
#include <stdlib.h>
#include <string.h>

#define CONVERTER SRC_SINC_BEST_QUALITY

mm_status mm_audio_resample(const float *in, int64_t n, int32_t from_rate, int32_t to_rate, float **out,
                            int64_t *n_out)
{
    if (!in || !out || !n_out || n < 0)
        return mm_error_set(MM_ERR_INVALID, "mm_audio_resample: NULL argument or negative length");
    *out = NULL;
    *n_out = 0;
    if (from_rate <= 0 || to_rate <= 0)
        return mm_error_set(MM_ERR_INVALID, "resample: rates must be positive (%ld -> %ld Hz)", (long)from_rate,
                            (long)to_rate);
    const double ratio = (double)to_rate / from_rate;
    if (!src_is_valid_ratio(ratio))
        return mm_error_set(MM_ERR_UNSUPPORTED, "resample: %ld -> %ld Hz is beyond libsamplerate's 256x range",
                            (long)from_rate, (long)to_rate);
    /* The converter delivers round(n * ratio) samples once flushed; a little
     * room on top so it is never cut short. */
    const int64_t want = (int64_t)llround((double)n * ratio);
    const int64_t cap = want + 16;
    float *dst = malloc(sizeof(float) * (size_t)(cap > 0 ? cap : 1));
    if (!dst)
        return mm_error_set(MM_ERR_NOMEM, "resample: out of memory (%lld samples)", (long long)cap);
    if (from_rate == to_rate) {
        if (n)
            memcpy(dst, in, sizeof(float) * (size_t)n);
        *out = dst;
        *n_out = n;
        return MM_OK;
    }
    SRC_DATA d = {
        .data_in = in,
        .data_out = dst,
        .input_frames = (long)n,
        .output_frames = (long)cap,
        .src_ratio = ratio,
        .end_of_input = 1,
    };
    int err = src_simple(&d, CONVERTER, 1);
    if (err) {
        free(dst);
        return mm_error_set(MM_ERR_BACKEND, "resample %ld -> %ld Hz: %s", (long)from_rate, (long)to_rate,
                            src_strerror(err));
    }
    *out = dst;
    *n_out = d.output_frames_gen < want ? d.output_frames_gen : want;
    return MM_OK;
}
