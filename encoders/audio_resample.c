/* Sample-rate conversion with libsamplerate.
 *
 * SRC_SINC_BEST_QUALITY: a band-limited sinc with a 97% passband, close to
 * ffmpeg's default resampler that made Whisper's references, so the top mel
 * bins (7.2 .. 8 kHz at 16 kHz) keep their energy. Measured
 * on jfk.flac (44.1 kHz stereo) against the features of jfk.wav (the same
 * speech at 16 kHz): max difference 0.079 (5.7e-3 below mel bin 70, mean
 * 6e-5); the medium sinc (90% passband) gives 0.37 and the fastest 0.56, the
 * difference sitting in the top bins. It costs about 0.4 s per 11 s of
 * 44.1 kHz audio on this 2-core machine (the medium sinc a quarter of that).
 * tests/media/test_mel.c holds these bounds. */
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
    /* Exactly round(n * ratio) samples, as a resampler of the whole signal
     * gives. libsamplerate flushed at the end of the input stops a sample
     * short for some ratios (44.1 -> 16 kHz), so the input is followed by
     * zeros (which is what its flush feeds the filter anyway) until the
     * count is reached. */
    const int64_t want = (int64_t)llround((double)n * ratio);
    float *dst = malloc(sizeof(float) * (size_t)(want > 0 ? want : 1));
    if (!dst)
        return mm_error_set(MM_ERR_NOMEM, "resample: out of memory (%lld samples)", (long long)want);
    if (from_rate == to_rate) {
        if (n)
            memcpy(dst, in, sizeof(float) * (size_t)n);
        *out = dst;
        *n_out = n;
        return MM_OK;
    }
    int err = 0;
    SRC_STATE *src = src_new(CONVERTER, 1, &err);
    static const float zeros[256];
    int64_t done = 0;
    for (int phase = 0; src && !err && phase < 2 && done < want; phase++) {
        SRC_DATA d = {
            .data_in = phase == 0 ? in : zeros,
            .input_frames = phase == 0 ? (long)n : (long)(sizeof zeros / sizeof zeros[0]),
            .src_ratio = ratio,
            .end_of_input = phase,
        };
        while (done < want) {
            d.data_out = dst + done;
            d.output_frames = (long)(want - done);
            if ((err = src_process(src, &d)) != 0)
                break;
            done += d.output_frames_gen;
            d.data_in += d.input_frames_used;
            d.input_frames -= d.input_frames_used;
            if ((d.output_frames_gen == 0 && d.input_frames_used == 0) || (phase == 0 && d.input_frames == 0))
                break; /* no progress, or the signal is in: on to the zeros */
        }
    }
    if (src)
        src_delete(src);
    if (err || done != want) {
        free(dst);
        return mm_error_set(MM_ERR_BACKEND, "resample %ld -> %ld Hz: %s", (long)from_rate, (long)to_rate,
                            err ? src_strerror(err) : "the converter stopped short");
    }
    *out = dst;
    *n_out = want;
    return MM_OK;
}
