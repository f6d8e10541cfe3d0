/* Transcription through the public API (mm/transcribe.h with libmm-media's
 * front end), on the whisper fixture:
 *
 *     test_transcribe <cpu|vulkan>
 *
 * - jfk.wav, greedy, no timestamps, 24 tokens: the reference ids of
 *   transformers' generate (every step's margin is above the threshold).
 * - the same samples as 24-bit WAV, float WAV and FLAC: the same tokens.
 * - 95 s (jfk.wav repeated) with timestamps: several windows, segments in
 *   order, never overlapping, inside the audio.
 * - 30 s of digital silence: no text.
 * - the no-speech rule on its decision inputs; an unknown language. */
#include "test_runtime.h"
#include "test_util.h"

#include "mm/media.h"
#include "mm/transcribe.h"

#include <json-c/json.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mm_runtime *g_rt;
static mm_transcriber *g_t;
static mm_mel *g_mel;
static char g_dir[1024];

static void expected_ids(const char *key, int32_t *ids, int32_t *n, int32_t *compare_upto)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/expected.json", g_dir);
    json_object *root = json_object_from_file(path), *g, *a, *c;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, key, &g));
    assert_true(json_object_object_get_ex(g, "new_ids", &a));
    *n = (int32_t)json_object_array_length(a);
    for (int32_t i = 0; i < *n; i++)
        ids[i] = json_object_get_int(json_object_array_get_idx(a, i));
    *compare_upto = json_object_object_get_ex(g, "compare_ids_up_to_step", &c) ? json_object_get_int(c) : *n;
    json_object_put(root);
}

/* Samples -> features (the audio, then 30 s of silence) -> transcript. */
static mm_status run(const float *x, int64_t n, const mm_transcribe_params *p, mm_transcript *r)
{
    int64_t padded = n + mm_mel_n_samples(g_mel), frames = mm_mel_frames_for(g_mel, padded);
    float *feats = malloc((size_t)mm_mel_n_mels(g_mel) * frames * sizeof *feats);
    assert_non_null(feats);
    assert_int_equal(mm_mel_compute_padded(g_mel, x, n, padded, feats), MM_OK);
    mm_status s = mm_transcribe(g_t, feats, frames, p, r);
    free(feats);
    return s;
}

static mm_status run_file(const char *path, const mm_transcribe_params *p, mm_transcript *r)
{
    mm_audio *a = NULL;
    if (mm_audio_load(path, mm_mel_sampling_rate(g_mel), &a) != MM_OK)
        fail_msg("%s: %s", path, mm_error_message());
    mm_status s = run(mm_audio_samples(a), mm_audio_n_samples(a), p, r);
    mm_audio_free(a);
    return s;
}

static mm_transcribe_params greedy24(void)
{
    mm_transcribe_params p = mm_transcribe_default_params();
    p.language = "en";
    p.timestamps = false;
    p.fallback = false;
    p.max_tokens = 24;
    return p;
}

#define jfk_path(buf, size) TEST_REQUIRE_SHARED(buf, "data/whisper.cpp/jfk.wav")

static void expect_reference_tokens(const mm_transcript *r)
{
    int32_t want[64], n, upto;
    expected_ids("greedy_whisper_generate", want, &n, &upto);
    assert_int_equal(r->n_segments, 1);
    const mm_segment *sg = &r->segments[0];
    print_message("%d tokens, comparing the first %d; avg log-prob %.3f, no-speech %.2g\n", sg->n_tokens, upto,
                  sg->avg_logprob, sg->no_speech_prob);
    assert_int_equal(sg->n_tokens, n);
    for (int32_t i = 0; i < upto; i++)
        if (sg->tokens[i] != want[i])
            fail_msg("step %d: token %d, reference %d", i, sg->tokens[i], want[i]);
    assert_string_equal(r->language, "en");
}

static void test_reference_greedy(void **state)
{
    (void)state;
    char path[1024];
    jfk_path(path, sizeof path);
    mm_transcribe_params p = greedy24();
    mm_transcript r;
    if (run_file(path, &p, &r) != MM_OK)
        fail_msg("transcribe: %s", mm_error_message());
    expect_reference_tokens(&r);
    mm_transcript_clear(&r);
}

/* The same samples stored other ways decode to the same samples. */
static void write_as(const char *path, int format, const float *x, int64_t n)
{
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        fail_msg("%s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_float(f, x, n), n);
    sf_close(f);
}

static void test_formats_same_tokens(void **state)
{
    (void)state;
    char path[1024];
    jfk_path(path, sizeof path);
    mm_audio *a = NULL;
    assert_int_equal(mm_audio_load(path, 16000, &a), MM_OK);
    static const struct { const char *ext; int format; } kinds[] = {
        {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24},
        {"wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT},
        {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
    };
    mm_transcribe_params p = greedy24();
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "/tmp/mm-test-jfk-%d-%zu.%s", (int)getpid(), k, kinds[k].ext);
        write_as(tmp, kinds[k].format, mm_audio_samples(a), mm_audio_n_samples(a));
        mm_transcript r;
        mm_status s = run_file(tmp, &p, &r);
        unlink(tmp);
        if (s != MM_OK)
            fail_msg("%s: %s", tmp, mm_error_message());
        print_message("%s (format 0x%x): ", kinds[k].ext, kinds[k].format);
        expect_reference_tokens(&r);
        mm_transcript_clear(&r);
    }
    mm_audio_free(a);
}

/* 95 s: jfk.wav repeated. Windows follow the timestamps; segments come in
 * order, do not overlap and stay inside the audio. */
static void test_long_audio_windows(void **state)
{
    (void)state;
    char path[1024];
    jfk_path(path, sizeof path);
    mm_audio *a = NULL;
    assert_int_equal(mm_audio_load(path, 16000, &a), MM_OK);
    int64_t n1 = mm_audio_n_samples(a), n = 95 * 16000;
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = mm_audio_samples(a)[i % n1];
    mm_transcribe_params p = mm_transcribe_default_params();
    p.language = "en";
    p.fallback = false;
    p.max_tokens = 32;
    mm_transcript r;
    if (run(x, n, &p, &r) != MM_OK)
        fail_msg("transcribe: %s", mm_error_message());
    print_message("95 s: %d segments\n", r.n_segments);
    assert_true(r.n_segments >= 4); /* at least one per 30 s window */
    double prev_end = 0;
    for (int32_t i = 0; i < r.n_segments; i++) {
        const mm_segment *sg = &r.segments[i];
        print_message("  [%7.2f - %7.2f] %d tokens\n", sg->start, sg->end, sg->n_tokens);
        assert_true(sg->start >= prev_end - 1e-9);
        assert_true(sg->end >= sg->start);
        assert_true(sg->end <= 95.0 + 1e-9);
        prev_end = sg->end;
    }
    assert_true(r.segments[r.n_segments - 1].start >= 60.0); /* the last window was reached */
    mm_transcript_clear(&r);
    free(x);
    mm_audio_free(a);
}

static void test_silence_no_text(void **state)
{
    (void)state;
    int64_t n = 30 * 16000;
    float *x = calloc((size_t)n, sizeof *x);
    assert_non_null(x);
    mm_transcribe_params p = mm_transcribe_default_params();
    mm_transcript r;
    assert_int_equal(run(x, n, &p, &r), MM_OK);
    assert_int_equal(r.n_segments, 0);
    assert_string_equal(r.text, "");
    mm_transcript_clear(&r);
    free(x);
}

static void test_no_speech_rule(void **state)
{
    (void)state;
    /* silent only when no-speech is likely AND the text unlikely */
    assert_true(mm_whisper_window_is_silent(0.61f, -1.01f, 0.6f, -1.0f));
    assert_false(mm_whisper_window_is_silent(0.59f, -1.01f, 0.6f, -1.0f));
    assert_false(mm_whisper_window_is_silent(0.61f, -0.99f, 0.6f, -1.0f));
    assert_false(mm_whisper_window_is_silent(0.6f, -2.0f, 0.6f, -1.0f)); /* strictly above */
    assert_true(mm_whisper_window_is_silent(0.99f, -0.1f, 0.6f, NAN));   /* no log-prob threshold */
    assert_true(mm_whisper_window_is_silent(0.99f, -1.0f, 0.6f, -1.0f)); /* not above: silent */
}

static void test_unknown_language(void **state)
{
    (void)state;
    float x[16000] = {0};
    x[100] = 0.5f;
    mm_transcribe_params p = mm_transcribe_default_params();
    p.language = "klingon";
    mm_transcript r;
    assert_int_equal(run(x, 16000, &p, &r), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "unknown language 'klingon'"));
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "cpu") && strcmp(argv[1], "vulkan"))) {
        fprintf(stderr, "usage: %s <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    char probe[1024];
    if (!test_shared_path(probe, sizeof probe, "fixtures/whisper-tiny-random/config.json")) {
        if (test_fixtures_required()) {
            fprintf(stderr, "FAIL: fixtures missing under %s\n", test_shared_dir());
            return 1;
        }
        printf("SKIP: fixtures missing under %s\n", test_shared_dir());
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "%s/fixtures/whisper-tiny-random", test_shared_dir());
    test_watch_validation();
    int rc = test_runtime_init(argv[1], &g_rt);
    if (rc)
        return rc;
    if (mm_transcriber_init(g_rt, g_dir, &g_t) != MM_OK || mm_mel_init(g_dir, &g_mel) != MM_OK) {
        fprintf(stderr, "FAIL: %s: %s\n", g_dir, mm_error_message());
        return 1;
    }
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_reference_greedy),   cmocka_unit_test(test_formats_same_tokens),
        cmocka_unit_test(test_long_audio_windows), cmocka_unit_test(test_silence_no_text),
        cmocka_unit_test(test_no_speech_rule),     cmocka_unit_test(test_unknown_language),
    };
    size_t n_tests = sizeof all / sizeof all[0];
    char group[64];
    snprintf(group, sizeof group, "transcribe-%s", argv[1]);
    rc = _cmocka_run_group_tests(group, all, n_tests, NULL, NULL);
    mm_mel_free(g_mel);
    mm_transcriber_free(g_t);
    mm_runtime_free(g_rt);
    return test_validation_verdict(rc);
}
