/* The library's hello world: transcribe an audio file with a Whisper folder.
 *
 *     sample-transcribe MODEL_DIR AUDIO_FILE
 *
 * libmm-media turns the file into log-mel features; libmm runs the model. */
#include <mm/media.h>
#include <mm/transcribe.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    fprintf(stderr, "sample-transcribe: %s: %s\n", what, mm_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR AUDIO_FILE\n", argv[0]);
        return 2;
    }
    mm_runtime *rt = NULL;
    mm_transcriber *t = NULL;
    mm_mel *mel = NULL;
    mm_audio *audio = NULL;
    if (mm_runtime_init(NULL, &rt) != MM_OK) /* the best backend there is */
        return fail("runtime");
    if (mm_transcriber_init(rt, argv[1], &t) != MM_OK || mm_mel_init(argv[1], &mel) != MM_OK)
        return fail(argv[1]);
    if (mm_audio_load(argv[2], mm_mel_sampling_rate(mel), &audio) != MM_OK)
        return fail(argv[2]);

    /* the audio, then 30 s of silence: the layout the transcriber windows over */
    int64_t n = mm_audio_n_samples(audio), padded = n + mm_mel_n_samples(mel);
    int64_t frames = mm_mel_frames_for(mel, padded);
    float *features = malloc(sizeof(float) * (size_t)mm_mel_n_mels(mel) * (size_t)frames);
    if (!features || mm_mel_compute_padded(mel, mm_audio_samples(audio), n, padded, features) != MM_OK)
        return fail("features");

    mm_transcribe_params params = mm_transcribe_default_params();
    mm_transcript result;
    if (mm_transcribe(t, features, frames, &params, &result) != MM_OK)
        return fail("transcribe");
    for (int32_t i = 0; i < result.n_segments; i++)
        printf("[%6.2f -> %6.2f] %s\n", result.segments[i].start, result.segments[i].end, result.segments[i].text);

    mm_transcript_clear(&result);
    free(features);
    mm_audio_free(audio);
    mm_mel_free(mel);
    mm_transcriber_free(t);
    mm_runtime_free(rt);
    return 0;
}
