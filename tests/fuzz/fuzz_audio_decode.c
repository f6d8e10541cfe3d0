/* libFuzzer target: arbitrary bytes as an audio file through
 * mm_audio_load_memory, the entry point every file and pipe goes through
 * (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3 ...), resampled to 16 kHz
 * as transcription does. It must refuse with a message or decode; decoded
 * samples are read end to end (ASan checks their bounds) and must be
 * finite. Build: meson -Dfuzz=true with CC=clang; seeds:
 * tests/fuzz/audio_decode_seeds/; run: fuzz_audio_decode corpus */
#include "mm/media.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile float g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mm_audio *a = NULL;
    mm_status st = mm_audio_load_memory(data, size, 16000, &a);
    if (st != MM_OK) {
        if (a || !mm_error_message()[0])
            __builtin_trap(); /* a failure leaves no audio and says why */
        return 0;
    }
    const float *x = mm_audio_samples(a);
    int64_t n = mm_audio_n_samples(a);
    if (n < 0 || mm_audio_sample_rate(a) != 16000)
        __builtin_trap();
    float acc = 0;
    for (int64_t i = 0; i < n; i++)
        acc += x[i];
    g_sink = acc;
    mm_audio_free(a);
    return 0;
}
