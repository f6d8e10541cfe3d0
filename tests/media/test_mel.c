/* Whisper log-mel features against transformers' (the fixture's
 * input_features of jfk.wav) and the mel filters against both the
 * extractor's and openai-whisper's mel_filters.npz; configs checked at load. */
#include "mm/media.h"
#include "npz.h"
#include "test_util.h"

#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE "whisper-tiny-random"

#define CHECK_OK(call)                                                                                                 \
    do {                                                                                                               \
        mm_status s_ = (call);                                                                                         \
        if (s_ != MM_OK)                                                                                               \
            fail_msg("%s: %s", #call, mm_error_message());                                                             \
    } while (0)

/* expected.json: tensors.<name>.recommended_atol. */
static double fixture_atol(const char *tensor)
{
    char path[1024];
    TEST_REQUIRE_SHARED(path, "fixtures/" FIXTURE "/expected.json");
    json_object *root = json_object_from_file(path), *t, *o, *atol;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "tensors", &t));
    assert_true(json_object_object_get_ex(t, tensor, &o));
    assert_true(json_object_object_get_ex(o, "recommended_atol", &atol));
    double v = json_object_get_double(atol);
    json_object_put(root);
    return v;
}

static mm_mel *fixture_mel(void)
{
    char dir[1024];
    TEST_REQUIRE_SHARED(dir, "fixtures/" FIXTURE "/preprocessor_config.json");
    dir[strlen(dir) - strlen("/preprocessor_config.json")] = '\0'; /* the model folder */
    mm_mel *mel = NULL;
    CHECK_OK(mm_mel_init(dir, &mel));
    return mel;
}

static mm_audio *load_audio(const char *rel, int32_t rate)
{
    char path[1024];
    TEST_REQUIRE_SHARED(path, rel);
    mm_audio *a = NULL;
    CHECK_OK(mm_audio_load(path, rate, &a));
    return a;
}

static float *features(const mm_mel *mel, const float *x, int64_t n)
{
    float *out = malloc(sizeof(float) * (size_t)mm_mel_n_mels(mel) * (size_t)mm_mel_n_frames(mel));
    assert_non_null(out);
    CHECK_OK(mm_mel_compute(mel, x, n, out));
    return out;
}

/* The fixture's input_features: [1, 80, 3000], mel-major like ours. */
static float *reference_features(const char *name)
{
    int64_t shape[4];
    int32_t nd;
    float *ref = test_load_expected(FIXTURE, name, shape, &nd);
    assert_int_equal(nd, 3);
    assert_int_equal(shape[1], 80);
    assert_int_equal(shape[2], 3000);
    return ref;
}

static void test_jfk_features(void **state)
{
    mm_mel *mel = fixture_mel();
    assert_int_equal(mm_mel_n_mels(mel), 80);
    assert_int_equal(mm_mel_n_frames(mel), 3000);
    assert_int_equal(mm_mel_n_samples(mel), 480000);
    mm_audio *a = load_audio("fixtures/" FIXTURE "/jfk.wav", mm_mel_sampling_rate(mel));
    assert_int_equal(mm_audio_n_samples(a), 176000);
    float *got = features(mel, mm_audio_samples(a), mm_audio_n_samples(a));
    float *ref = reference_features("input_features");
    assert_true(test_allclose("input_features (transformers)", got, ref, 80 * 3000, fixture_atol("input_features"), 0));
    free(ref);
    ref = reference_features("input_features_openai");
    assert_true(test_allclose("input_features (openai-whisper)", got, ref, 80 * 3000,
                              fixture_atol("input_features_openai"), 0));
    free(ref);
    free(got);
    mm_audio_free(a);
    mm_mel_free(mel);
}

/* More samples than a chunk: the extractor keeps the first n_samples. */
static void test_trim_to_chunk(void **state)
{
    mm_mel *mel = fixture_mel();
    mm_audio *a = load_audio("fixtures/" FIXTURE "/jfk.wav", 16000);
    int64_t n = mm_audio_n_samples(a), big = 3 * 176000;
    float *x = malloc(sizeof(float) * (size_t)big);
    assert_non_null(x);
    for (int64_t i = 0; i < big; i++)
        x[i] = mm_audio_samples(a)[i % n];
    float *whole = features(mel, x, big);
    float *first = features(mel, x, 480000);
    assert_memory_equal(whole, first, sizeof(float) * 80 * 3000);
    /* ... and it differs from jfk alone (the second copy is in the chunk). */
    float *ref = reference_features("input_features");
    double worst = 0;
    for (size_t i = 0; i < 80 * 3000; i++)
        worst = fmax(worst, fabs(whole[i] - ref[i]));
    assert_true(worst > 0.1);
    free(ref);
    free(first);
    free(whole);
    free(x);
    mm_audio_free(a);
    mm_mel_free(mel);
}

/* Long audio as openai-whisper handles it: the whole signal plus a chunk
 * of zeros in one spectrogram, windows of 3000 frames cut from it. Frames
 * whose window lies inside the first copy of jfk equal the reference's
 * (same samples, same global maximum: the copies are identical). */
static void test_long_audio(void **state)
{
    mm_mel *mel = fixture_mel();
    mm_audio *a = load_audio("fixtures/" FIXTURE "/jfk.wav", 16000);
    const int64_t n = mm_audio_n_samples(a), copies = 9, total = copies * n; /* 99 s */
    float *x = malloc(sizeof(float) * (size_t)total);
    assert_non_null(x);
    for (int64_t i = 0; i < total; i++)
        x[i] = mm_audio_samples(a)[i % n];
    const int64_t padded = total + mm_mel_n_samples(mel), frames = mm_mel_frames_for(mel, padded);
    assert_int_equal(frames, padded / 160);
    float *out = malloc(sizeof(float) * 80 * (size_t)frames);
    assert_non_null(out);
    CHECK_OK(mm_mel_compute_padded(mel, x, total, padded, out));
    float *ref = reference_features("input_features");
    /* Frame t covers samples t*160-200 .. t*160+199. */
    const int64_t inside = (n - 200) / 160;
    float *win = malloc(sizeof(float) * 80 * (size_t)inside), *want = malloc(sizeof(float) * 80 * (size_t)inside);
    assert_true(win && want);
    for (int64_t k = 0; k < copies; k++) {
        /* Copy k starts at sample k*n = frame k*1100: the same columns. */
        const int64_t t0 = k * n / 160;
        for (int m = 0; m < 80; m++)
            for (int64_t t = 0; t < inside; t++) {
                /* Frames 0 and 1 reach before the copy's first sample: the
                 * reference reflects there, a later copy sees the one before. */
                win[m * inside + t] = t < 2 ? 0 : out[m * frames + t0 + t];
                want[m * inside + t] = t < 2 ? 0 : ref[m * 3000 + t];
            }
        char what[64];
        snprintf(what, sizeof what, "long audio, copy %lld", (long long)k);
        assert_true(test_allclose(what, win, want, 80 * (size_t)inside, fixture_atol("input_features"), 0));
    }
    /* The tail is the floor: max - 8, i.e. a constant. */
    float last = out[79 * frames + frames - 1];
    for (int m = 0; m < 80; m++)
        assert_float_equal(out[m * frames + frames - 1], last, 0);
    free(win);
    free(want);
    free(ref);
    free(out);
    free(x);
    mm_audio_free(a);
    mm_mel_free(mel);
}

/* jfk.flac is the same speech at 44.1 kHz stereo: down-mixed and resampled,
 * its features stay near jfk.wav's reference. Measured with the best sinc:
 * max 0.079 (all in the top mel bins, 7.2 .. 8 kHz, where resamplers'
 * transition bands differ), 5.7e-3 below bin 70, 2.3e-4 where the reference
 * is 1 above its floor (loud parts), mean 6e-5. The medium sinc reaches 0.37,
 * the fastest 0.56; a resampler off by one sample at the end, 0.18. */
static void test_flac_resampled(void **state)
{
    mm_mel *mel = fixture_mel();
    mm_audio *a = load_audio("data/openai-whisper/jfk.flac", 16000);
    assert_int_equal(mm_audio_source_rate(a), 44100);
    assert_int_equal(mm_audio_source_channels(a), 2);
    assert_int_equal(mm_audio_n_samples(a), 176000); /* 485100 * 16000 / 44100 */
    float *got = features(mel, mm_audio_samples(a), mm_audio_n_samples(a));
    float *ref = reference_features("input_features");
    float floor_v = ref[0];
    for (size_t i = 0; i < 80 * 3000; i++)
        floor_v = fminf(floor_v, ref[i]);
    double max_all = 0, max_low = 0, max_loud = 0, sum = 0;
    for (size_t i = 0; i < 80 * 3000; i++) {
        double e = fabs(got[i] - ref[i]);
        max_all = fmax(max_all, e);
        if (i < 70 * 3000)
            max_low = fmax(max_low, e);
        if (ref[i] >= floor_v + 1.0f)
            max_loud = fmax(max_loud, e);
        sum += e;
    }
    print_message("jfk.flac vs jfk.wav features: max %.3e, below bin 70 %.3e, loud %.3e, mean %.3e\n", max_all,
                  max_low, max_loud, sum / (80 * 3000));
    assert_true(max_all < 0.1);
    assert_true(max_low < 1e-2);
    assert_true(max_loud < 1e-3);
    assert_true(sum / (80 * 3000) < 1e-4);
    free(ref);
    free(got);
    mm_audio_free(a);
    mm_mel_free(mel);
}

static void test_filters_vs_extractor(void **state)
{
    mm_mel *mel = fixture_mel();
    int64_t shape[4];
    int32_t nd;
    float *ref = test_load_expected(FIXTURE, "mel_filters", shape, &nd);
    assert_int_equal(shape[0], 201);
    assert_int_equal(shape[1], 80);
    float *got = malloc(sizeof(float) * 201 * 80);
    assert_non_null(got);
    for (int i = 0; i < 201 * 80; i++)
        got[i] = (float)mm_mel_filters(mel)[i];
    assert_true(test_allclose("mel_filters (transformers)", got, ref, 201 * 80, fixture_atol("mel_filters"), 0));
    free(got);
    free(ref);
    mm_mel_free(mel);
}

/* openai-whisper's librosa filters, [n_mels, 201], for 80 and 128 bins. */
static void check_npz_filters(int n_mels)
{
    char path[1024], name[32], why[256];
    TEST_REQUIRE_SHARED(path, "data/openai-whisper/mel_filters.npz");
    snprintf(name, sizeof name, "mel_%d", n_mels);
    int64_t shape[4];
    int nd;
    float *ref = npz_read_f32(path, name, shape, &nd, why, sizeof why);
    if (!ref)
        fail_msg("%s", why);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], n_mels);
    assert_int_equal(shape[1], 201);
    mm_mel_params p = mm_mel_params_default();
    p.feature_size = n_mels;
    mm_mel *mel = NULL;
    CHECK_OK(mm_mel_init_params(&p, &mel));
    float *got = malloc(sizeof(float) * 201 * (size_t)n_mels);
    assert_non_null(got);
    for (int m = 0; m < n_mels; m++)
        for (int k = 0; k < 201; k++)
            got[m * 201 + k] = (float)mm_mel_filters(mel)[k * n_mels + m];
    snprintf(name, sizeof name, "mel_filters.npz mel_%d", n_mels);
    assert_true(test_allclose(name, got, ref, 201 * (size_t)n_mels, 1e-6, 0));
    free(got);
    free(ref);
    mm_mel_free(mel);
}

static void test_filters_npz_80(void **state)
{
    check_npz_filters(80);
}

static void test_filters_npz_128(void **state)
{
    check_npz_filters(128);
}

/* Several threads initialise extractors (FFTW planning, serialised inside)
 * and compute at once; every result equals the single-threaded one. */
typedef struct {
    const float *x;
    int64_t n;
    const float *want;
    int ok;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    for (int r = 0; r < 3; r++) {
        mm_mel *mel = NULL;
        mm_mel_params p = mm_mel_params_default();
        if (mm_mel_init_params(&p, &mel) != MM_OK)
            return NULL;
        float *out = malloc(sizeof(float) * 80 * 3000);
        if (out && mm_mel_compute(mel, j->x, j->n, out) == MM_OK && memcmp(out, j->want, sizeof(float) * 80 * 3000) == 0)
            j->ok++;
        free(out);
        mm_mel_free(mel);
    }
    return NULL;
}

static void test_threads(void **state)
{
    mm_mel *mel = fixture_mel();
    mm_audio *a = load_audio("fixtures/" FIXTURE "/jfk.wav", 16000);
    float *want = features(mel, mm_audio_samples(a), mm_audio_n_samples(a));
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){mm_audio_samples(a), mm_audio_n_samples(a), want, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].ok, 3);
    }
    free(want);
    mm_audio_free(a);
    mm_mel_free(mel);
}

/* ---- preprocessor_config.json checks ------------------------------------ */

static char g_tmpdir[] = "/tmp/mm_test_mel_XXXXXX";

static const char *write_config(const char *json)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", g_tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return path;
}

static void expect_config_error(const char *json, mm_status want, const char *needle)
{
    mm_mel *mel = (mm_mel *)1;
    mm_status st = mm_mel_init(write_config(json), &mel);
    if (st != want || !strstr(mm_error_message(), needle))
        fail_msg("config %s: got %s \"%s\", want %s containing \"%s\"", json, mm_status_name(st), mm_error_message(),
                 mm_status_name(want), needle);
    assert_null(mel);
}

static void test_config(void **state)
{
    /* large-v3: 128 bins, from a model folder. */
    write_config("{\"feature_extractor_type\": \"WhisperFeatureExtractor\", \"feature_size\": 128, \"sampling_rate\": "
                 "16000, \"hop_length\": 160, \"n_fft\": 400, \"chunk_length\": 30, \"n_samples\": 480000, "
                 "\"nb_max_frames\": 3000, \"padding_value\": 0.0}");
    mm_mel *mel = NULL;
    CHECK_OK(mm_mel_init(g_tmpdir, &mel));
    assert_int_equal(mm_mel_n_mels(mel), 128);
    assert_int_equal(mm_mel_n_frames(mel), 3000);
    mm_mel_free(mel);
    /* Absent keys take the extractor's defaults. */
    CHECK_OK(mm_mel_init(write_config("{\"chunk_length\": 10}"), &mel));
    assert_int_equal(mm_mel_n_mels(mel), 80);
    assert_int_equal(mm_mel_n_samples(mel), 160000);
    assert_int_equal(mm_mel_n_frames(mel), 1000);
    mm_mel_free(mel);

    expect_config_error("{\"feature_size\": \"80\"}", MM_ERR_FORMAT, "\"feature_size\" must be an integer");
    expect_config_error("{\"feature_size\": 0}", MM_ERR_FORMAT, "\"feature_size\" is 0");
    expect_config_error("{\"hop_length\": -160}", MM_ERR_FORMAT, "\"hop_length\" is -160");
    expect_config_error("{\"n_fft\": 99999999999}", MM_ERR_FORMAT, "\"n_fft\" is out of range");
    expect_config_error("{\"n_samples\": 160000}", MM_ERR_FORMAT, "\"n_samples\" is 160000 but");
    expect_config_error("{\"nb_max_frames\": 1500}", MM_ERR_FORMAT, "\"nb_max_frames\" is 1500 but");
    expect_config_error("{\"feature_extractor_type\": \"CLIPImageProcessor\"}", MM_ERR_UNSUPPORTED,
                        "CLIPImageProcessor, not WhisperFeatureExtractor");
    expect_config_error("{\"dither\": 1e-5}", MM_ERR_UNSUPPORTED, "\"dither\"");
    expect_config_error("[1, 2]", MM_ERR_FORMAT, "not a JSON object");
    expect_config_error("{\"feature_size\": 80,", MM_ERR_FORMAT, "invalid JSON");

    mel = (mm_mel *)1;
    assert_int_equal(mm_mel_init("/nonexistent/whisper", &mel), MM_ERR_IO);
    assert_string_equal(mm_error_message(), "/nonexistent/whisper: No such file or directory");
    assert_null(mel);
    char empty_dir[600];
    snprintf(empty_dir, sizeof empty_dir, "%s/no_config", g_tmpdir);
    assert_int_equal(mkdir(empty_dir, 0700), 0);
    assert_int_equal(mm_mel_init(empty_dir, &mel), MM_ERR_IO);
    assert_non_null(strstr(mm_error_message(), "no preprocessor_config.json in the model folder"));
    rmdir(empty_dir);

    mm_mel_params p = mm_mel_params_default();
    p.n_fft = 3;
    assert_int_equal(mm_mel_init_params(&p, &mel), MM_ERR_FORMAT);
    assert_non_null(strstr(mm_error_message(), "n_fft"));

    /* Too short a signal to reflect-pad is an error, not a read past the end. */
    p = mm_mel_params_default();
    CHECK_OK(mm_mel_init_params(&p, &mel));
    float x[200] = {0}, out[80];
    assert_int_equal(mm_mel_compute_padded(mel, x, 200, 200, out), MM_ERR_INVALID);
    assert_int_equal(mm_mel_compute(mel, NULL, 5, out), MM_ERR_INVALID);
    mm_mel_free(mel);
}

int main(void)
{
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jfk_features),   cmocka_unit_test(test_trim_to_chunk),
        cmocka_unit_test(test_long_audio),     cmocka_unit_test(test_flac_resampled),
        cmocka_unit_test(test_filters_vs_extractor),
        cmocka_unit_test(test_filters_npz_80), cmocka_unit_test(test_filters_npz_128),
        cmocka_unit_test(test_threads),        cmocka_unit_test(test_config),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", g_tmpdir);
    unlink(path);
    rmdir(g_tmpdir);
    return rc;
}
