/* Audio decoding: every sample format libsndfile writes, decoded back and
 * compared (exactly for PCM, FLAC and float; by SNR for the lossy codecs),
 * standard input and pipes, down-mix, resampling (frequency, amplitude,
 * band limit), and bad files: each a clear error, never a crash. */
#include "mm/media.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_OK(call)                                                                                                 \
    do {                                                                                                               \
        mm_status s_ = (call);                                                                                         \
        if (s_ != MM_OK)                                                                                               \
            fail_msg("%s: %s", #call, mm_error_message());                                                             \
    } while (0)

static char g_dir[] = "/tmp/mm_test_audio_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[16][512];
    static int next;
    char *p = path[next++ % 16];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

/* Writes interleaved int16 frames; libsndfile converts to `format`. */
static void write_short(const char *path, int format, int rate, int channels, const short *x, sf_count_t frames)
{
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_short(f, x, frames), frames);
    sf_close(f);
}

static void write_float(const char *path, int format, int rate, const float *x, sf_count_t n)
{
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_float(f, x, n), n);
    sf_close(f);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* A second of a 440 Hz tone with a deterministic wobble, as int16; with
 * `coarse` every value is a multiple of 256 (exact in 8-bit formats). */
#define N_TEST 16000
static void test_signal(short *x, int n, bool coarse)
{
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int v = (int)lrint(12000.0 * sin(2 * M_PI * 440.0 * i / 16000.0)) + (int)((s >> 33) % 4001) - 2000;
        x[i] = (short)(coarse ? v & ~0xFF : v);
    }
}

static mm_audio *load(const char *path, int32_t rate)
{
    mm_audio *a = NULL;
    CHECK_OK(mm_audio_load(path, rate, &a));
    return a;
}

/* Lossless encodings: every sample comes back as int16 / 32768. */
static void check_exact(const char *name, int format, bool coarse, const char *want_format, const char *want_encoding)
{
    short x[N_TEST];
    test_signal(x, N_TEST, coarse);
    const char *path = tmp_path(name);
    int sub = format & SF_FORMAT_SUBMASK;
    if (sub == SF_FORMAT_FLOAT || sub == SF_FORMAT_DOUBLE) {
        /* Float files hold what is written unscaled: write the floats. */
        float f[N_TEST];
        for (int i = 0; i < N_TEST; i++)
            f[i] = x[i] / 32768.0f;
        write_float(path, format, 16000, f, N_TEST);
    } else {
        write_short(path, format, 16000, 1, x, N_TEST);
    }
    mm_audio *a = load(path, 16000);
    assert_int_equal(mm_audio_n_samples(a), N_TEST);
    assert_int_equal(mm_audio_sample_rate(a), 16000);
    assert_int_equal(mm_audio_source_channels(a), 1);
    assert_string_equal(mm_audio_source_format(a), want_format);
    assert_string_equal(mm_audio_source_encoding(a), want_encoding);
    const float *y = mm_audio_samples(a);
    for (int i = 0; i < N_TEST; i++)
        if (y[i] != x[i] / 32768.0f)
            fail_msg("%s: sample %d is %.9g, want %d / 32768", name, i, y[i], x[i]);
    mm_audio_free(a);
}

static void test_wav_formats(void **state)
{
    check_exact("u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, true, "WAV (Microsoft)", "Unsigned 8 bit PCM");
    check_exact("s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, false, "WAV (Microsoft)", "Signed 16 bit PCM");
    check_exact("s24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, false, "WAV (Microsoft)", "Signed 24 bit PCM");
    check_exact("s32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, false, "WAV (Microsoft)", "Signed 32 bit PCM");
    check_exact("f32.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, false, "WAV (Microsoft)", "32 bit float");
    check_exact("f64.wav", SF_FORMAT_WAV | SF_FORMAT_DOUBLE, false, "WAV (Microsoft)", "64 bit float");
    check_exact("s16.wavex", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, false, "WAVEX (Microsoft)", "Signed 16 bit PCM");
}

static void test_flac(void **state)
{
    check_exact("s8.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_S8, true, "FLAC (Free Lossless Audio Codec)",
                "Signed 8 bit PCM");
    check_exact("s16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, false, "FLAC (Free Lossless Audio Codec)",
                "Signed 16 bit PCM");
    check_exact("s24.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, false, "FLAC (Free Lossless Audio Codec)",
                "Signed 24 bit PCM");
}

/* Lossy codecs: same length, the waveform back within 20 dB SNR (measured
 * 31 to 50 dB on this signal), at zero lag (the decoders remove their
 * delay). */
static void check_lossy(const char *name, int format, int rate, const char *want_encoding)
{
    const int n = 2 * rate;
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    for (int i = 0; i < n; i++)
        x[i] = 0.3f * sinf(2 * M_PI * 440 * i / rate) + 0.3f * sinf(2 * M_PI * 1000 * i / rate);
    const char *path = tmp_path(name);
    write_float(path, format, rate, x, n);
    mm_audio *a = load(path, 0);
    assert_int_equal(mm_audio_sample_rate(a), rate);
    assert_int_equal(mm_audio_n_samples(a), n);
    assert_string_equal(mm_audio_source_encoding(a), want_encoding);
    const float *y = mm_audio_samples(a);
    double err = 0, sig = 0;
    for (int i = rate / 4; i < n - rate / 4; i++) {
        err += (y[i] - x[i]) * (double)(y[i] - x[i]);
        sig += x[i] * (double)x[i];
    }
    double snr = 10 * log10(sig / err);
    print_message("%s: SNR %.1f dB\n", name, snr);
    assert_true(snr > 20);
    mm_audio_free(a);
    free(x);
}

static void test_lossy(void **state)
{
    check_lossy("vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, "Vorbis");
    check_lossy("opus16.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 16000, "Opus");
    check_lossy("opus48.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, "Opus");
    check_lossy("mp3_16.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 16000, "MPEG Layer III");
    check_lossy("mp3_44.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, "MPEG Layer III");
}

/* Channels are averaged: stereo and a 3-channel file. */
static void test_downmix(void **state)
{
    for (int ch = 2; ch <= 3; ch++) {
        short mono[N_TEST], x[3 * N_TEST];
        test_signal(mono, N_TEST, false);
        for (int i = 0; i < N_TEST; i++)
            for (int c = 0; c < ch; c++)
                x[i * ch + c] = (short)(c == 0 ? mono[i] : c == 1 ? -mono[i] / 3 : (i % 7) * 1000);
        const char *path = tmp_path(ch == 2 ? "stereo.wav" : "three.wav");
        write_short(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, ch, x, N_TEST);
        mm_audio *a = load(path, 16000);
        assert_int_equal(mm_audio_source_channels(a), ch);
        assert_int_equal(mm_audio_n_samples(a), N_TEST);
        for (int i = 0; i < N_TEST; i++) {
            double want = 0;
            for (int c = 0; c < ch; c++)
                want += x[i * ch + c] / 32768.0;
            want /= ch;
            if (fabs(mm_audio_samples(a)[i] - want) > 1e-7)
                fail_msg("%d channels: sample %d is %.9g, want %.9g", ch, i, mm_audio_samples(a)[i], want);
        }
        mm_audio_free(a);
    }
}

/* ---- resampling ---------------------------------------------------------- */

/* Frequency from the zero crossings (linearly interpolated) of y[from..to). */
static double measured_frequency(const float *y, int from, int to, int rate)
{
    double first = -1, last = -1;
    int crossings = 0;
    for (int i = from; i + 1 < to; i++)
        if (y[i] <= 0 && y[i + 1] > 0) {
            double t = i + y[i] / (double)(y[i] - y[i + 1]);
            if (first < 0)
                first = t;
            last = t;
            crossings++;
        }
    assert_true(crossings > 2);
    return (crossings - 1) / ((last - first) / rate);
}

static double rms(const float *y, int from, int to)
{
    double s = 0;
    for (int i = from; i < to; i++)
        s += y[i] * (double)y[i];
    return sqrt(s / (to - from));
}

/* A 2-second tone at `rate` (float WAV), loaded at 16 kHz. */
static mm_audio *tone_at_16k(int rate, double freq, double amp)
{
    const int n = 2 * rate;
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x);
    for (int i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2 * M_PI * freq * i / rate));
    char name[64];
    snprintf(name, sizeof name, "tone_%d_%g.wav", rate, freq);
    write_float(tmp_path(name), SF_FORMAT_WAV | SF_FORMAT_FLOAT, rate, x, n);
    free(x);
    mm_audio *a = load(tmp_path(name), 16000);
    assert_int_equal(mm_audio_source_rate(a), rate);
    assert_int_equal(mm_audio_sample_rate(a), 16000);
    assert_int_equal(mm_audio_n_samples(a), 32000);
    return a;
}

static void test_resample(void **state)
{
    const int rates[] = {8000, 44100, 48000};
    for (int r = 0; r < 3; r++) {
        mm_audio *a = tone_at_16k(rates[r], 1000.0, 0.5);
        const float *y = mm_audio_samples(a);
        /* Away from the ends, where the filter sees the signal's edges. */
        double f = measured_frequency(y, 4000, 28000, 16000), amp = rms(y, 4000, 28000) * sqrt(2.0);
        /* Against the ideal tone at the new rate: the converter adds no delay. */
        double worst = 0;
        for (int i = 4000; i < 28000; i++)
            worst = fmax(worst, fabs(y[i] - 0.5 * sin(2 * M_PI * 1000.0 * i / 16000)));
        print_message("%d -> 16000 Hz: %.4f Hz, amplitude %.5f, max error %.2e\n", rates[r], f, amp, worst);
        assert_true(fabs(f - 1000.0) < 0.01);
        assert_true(fabs(amp - 0.5) < 1e-4);
        assert_true(worst < 1e-5); /* measured 1.4e-8 .. 1.1e-7 */
        mm_audio_free(a);
    }
    /* A 12 kHz tone is above the new Nyquist frequency: filtered out, not
     * folded back to 4 kHz. */
    mm_audio *a = tone_at_16k(44100, 12000.0, 0.5);
    double left = rms(mm_audio_samples(a), 4000, 28000);
    print_message("12 kHz at 44100 -> 16000 Hz: rms %.2e\n", left);
    assert_true(left < 1e-3);
    mm_audio_free(a);

    /* The same rate is left alone; rate 0 keeps the file's. */
    a = tone_at_16k(16000, 1000.0, 0.5);
    mm_audio *b = load(tmp_path("tone_16000_1000.wav"), 0);
    assert_memory_equal(mm_audio_samples(a), mm_audio_samples(b), sizeof(float) * 32000);
    mm_audio_free(b);
    mm_audio_free(a);

    float *out = (float *)1;
    int64_t n_out = -1;
    float x[4] = {0};
    assert_int_equal(mm_audio_resample(x, 4, 16000, 16000 * 300, &out, &n_out), MM_ERR_UNSUPPORTED);
    assert_non_null(strstr(mm_error_message(), "256x"));
    assert_int_equal(mm_audio_resample(x, 4, 0, 16000, &out, &n_out), MM_ERR_INVALID);
    assert_null(out);
}

/* ---- standard input, pipes, memory -------------------------------------- */

typedef struct {
    int fd;
    const unsigned char *data;
    size_t n;
} pipe_job;

static void *pipe_writer(void *arg)
{
    pipe_job *j = arg;
    for (size_t off = 0; off < j->n;) {
        ssize_t w = write(j->fd, j->data + off, j->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(j->fd);
    return NULL;
}

/* `-` with standard input a pipe fed by a thread. Larger than a pipe's
 * buffer, and FLAC, which libsndfile reads with seeks. */
static mm_audio *load_stdin_pipe(const unsigned char *data, size_t n)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[0], STDIN_FILENO) >= 0);
    close(p[0]);
    pipe_job job = {p[1], data, n};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pipe_writer, &job), 0);
    mm_audio *a = NULL;
    mm_status st = mm_audio_load("-", 16000, &a);
    pthread_join(th, NULL);
    dup2(saved, STDIN_FILENO);
    close(saved);
    if (st != MM_OK)
        fail_msg("stdin: %s", mm_error_message());
    return a;
}

static void test_stdin_and_memory(void **state)
{
    enum { N = 5 * 16000 }; /* 160 kB as 16-bit WAV */
    short *x = malloc(sizeof(short) * N);
    assert_non_null(x);
    for (int i = 0; i < N; i += N_TEST)
        test_signal(x + i, N_TEST, false);
    const char *names[] = {"stdin.wav", "stdin.flac"};
    const int formats[] = {SF_FORMAT_WAV | SF_FORMAT_PCM_16, SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
    for (int k = 0; k < 2; k++) {
        const char *path = tmp_path(names[k]);
        write_short(path, formats[k], 16000, 1, x, N);
        size_t n;
        unsigned char *bytes = read_bytes(path, &n);
        mm_audio *from_file = load(path, 16000);
        mm_audio *from_pipe = load_stdin_pipe(bytes, n);
        mm_audio *from_mem = NULL;
        CHECK_OK(mm_audio_load_memory(bytes, n, 16000, &from_mem));
        assert_int_equal(mm_audio_n_samples(from_file), N);
        assert_int_equal(mm_audio_n_samples(from_pipe), N);
        assert_int_equal(mm_audio_n_samples(from_mem), N);
        assert_memory_equal(mm_audio_samples(from_file), mm_audio_samples(from_pipe), sizeof(float) * N);
        assert_memory_equal(mm_audio_samples(from_file), mm_audio_samples(from_mem), sizeof(float) * N);
        for (int i = 0; i < N; i++)
            assert_true(mm_audio_samples(from_pipe)[i] == x[i] / 32768.0f);

        /* A named pipe (as with `<(...)` in a shell) takes the same path. */
        const char *fifo = tmp_path("fifo");
        unlink(fifo);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        pthread_t th;
        pipe_job job = {-1, bytes, n};
        /* Opening a FIFO blocks until both ends are open: a reader of our own
         * (non-blocking, never read) lets the writer's end open first. */
        int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
        assert_true(rfd >= 0);
        job.fd = open(fifo, O_WRONLY);
        assert_true(job.fd >= 0);
        assert_int_equal(pthread_create(&th, NULL, pipe_writer, &job), 0);
        mm_audio *from_fifo = NULL;
        mm_status st = mm_audio_load(fifo, 16000, &from_fifo);
        pthread_join(th, NULL);
        close(rfd);
        if (st != MM_OK)
            fail_msg("fifo: %s", mm_error_message());
        assert_int_equal(mm_audio_n_samples(from_fifo), N);
        assert_memory_equal(mm_audio_samples(from_file), mm_audio_samples(from_fifo), sizeof(float) * N);
        unlink(fifo);

        mm_audio_free(from_fifo);
        mm_audio_free(from_mem);
        mm_audio_free(from_pipe);
        mm_audio_free(from_file);
        free(bytes);
    }
    free(x);
}

/* ---- bad input ------------------------------------------------------------ */

static void expect_error(const char *path, mm_status want, const char *needle)
{
    mm_audio *a = (mm_audio *)1;
    mm_status st = mm_audio_load(path, 16000, &a);
    if (st != want || !strstr(mm_error_message(), needle) || !strstr(mm_error_message(), path))
        fail_msg("%s: got %s \"%s\", want %s naming the file and containing \"%s\"", path, mm_status_name(st),
                 mm_error_message(), mm_status_name(want), needle);
    assert_null(a);
    print_message("%s -> %s\n", path, mm_error_message());
}

static void test_bad_input(void **state)
{
    expect_error(tmp_path("missing.wav"), MM_ERR_IO, "No such file or directory");
    expect_error(g_dir, MM_ERR_IO, "Is a directory");

    const char *empty = tmp_path("empty.wav");
    write_bytes(empty, "", 0);
    expect_error(empty, MM_ERR_FORMAT, "empty file");

    const char *text = tmp_path("text.wav");
    const char *words = "This is not audio, it only has a .wav name.\n";
    write_bytes(text, words, strlen(words));
    expect_error(text, MM_ERR_FORMAT, "not an audio file libsndfile can read");

    /* A valid WAV, cut inside its header, and with a corrupt fmt chunk. */
    short x[N_TEST];
    test_signal(x, N_TEST, false);
    const char *good = tmp_path("good.wav");
    write_short(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, x, N_TEST);
    size_t n;
    unsigned char *bytes = read_bytes(good, &n);
    assert_int_equal(n, 44 + 2 * N_TEST);
    const char *cut = tmp_path("cut_header.wav");
    write_bytes(cut, bytes, 30);
    expect_error(cut, MM_ERR_FORMAT, "not an audio file libsndfile can read");
    unsigned char *bad = malloc(n);
    assert_non_null(bad);
    memcpy(bad, bytes, n);
    bad[22] = bad[23] = 0; /* fmt: 0 channels */
    const char *zero_ch = tmp_path("zero_channels.wav");
    write_bytes(zero_ch, bad, n);
    expect_error(zero_ch, MM_ERR_FORMAT, "not an audio file libsndfile can read");
    memcpy(bad, bytes, n);
    bad[20] = 0x99; /* fmt: a codec tag no one knows */
    const char *codec = tmp_path("unknown_codec.wav");
    write_bytes(codec, bad, n);
    expect_error(codec, MM_ERR_FORMAT, "not an audio file libsndfile can read");
    /* A header and no samples at all. */
    const char *no_data = tmp_path("no_data.wav");
    write_short(no_data, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, x, 0);
    expect_error(no_data, MM_ERR_FORMAT, "no audio samples");
    /* Samples cut short: what is there is decoded. */
    const char *short_data = tmp_path("short_data.wav");
    write_bytes(short_data, bytes, 44 + 2 * 1000);
    mm_audio *a = load(short_data, 16000);
    assert_int_equal(mm_audio_n_samples(a), 1000);
    for (int i = 0; i < 1000; i++)
        assert_true(mm_audio_samples(a)[i] == x[i] / 32768.0f);
    mm_audio_free(a);

    /* In memory: nothing, noise, NULL. */
    a = (mm_audio *)1;
    assert_int_equal(mm_audio_load_memory(bytes, 0, 16000, &a), MM_ERR_FORMAT);
    assert_non_null(strstr(mm_error_message(), "empty"));
    assert_null(a);
    for (size_t i = 0; i < n; i++)
        bad[i] = (unsigned char)(i * 2654435761u >> 13);
    assert_int_equal(mm_audio_load_memory(bad, n, 16000, &a), MM_ERR_FORMAT);
    assert_int_equal(mm_audio_load_memory(NULL, 10, 16000, &a), MM_ERR_INVALID);
    assert_int_equal(mm_audio_load(NULL, 16000, &a), MM_ERR_INVALID);
    assert_int_equal(mm_audio_load(good, -1, &a), MM_ERR_INVALID);
    free(bad);
    free(bytes);
}

int main(void)
{
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_formats), cmocka_unit_test(test_flac),
        cmocka_unit_test(test_lossy),       cmocka_unit_test(test_downmix),
        cmocka_unit_test(test_resample),    cmocka_unit_test(test_stdin_and_memory),
        cmocka_unit_test(test_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
