/* Audio files -> mono float samples with libsndfile (Debian 12: 1.2.0, which
 * reads WAV/WAVEX/RF64/W64 in every PCM and float encoding, AIFF, FLAC,
 * OGG/Vorbis, OGG/Opus and MPEG layer I/II/III through libmpg123), then
 * resampled to the rate the caller's model wants.
 *
 * Regular files are read through their descriptor (libsndfile seeks);
 * anything else (standard input, pipes, process substitution) is read into
 * memory first and decoded through libsndfile's virtual I/O, since several
 * formats need to seek back to their header. */
#include "media_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A cap far above any real input (~37 h of mono 16 kHz audio, 8 GiB as
 * float) so that a corrupt length cannot drive allocation. */
#define MAX_SAMPLES ((int64_t)1 << 31)
#define MAX_CHANNELS 1024
/* Compressed inputs read from a pipe are held whole in memory. */
#define MAX_STREAM_BYTES ((size_t)4 << 30)
#define READ_FRAMES 16384

struct mm_audio {
    float *samples;
    int64_t n;
    int32_t rate;
    int32_t source_rate;
    int32_t source_channels;
    char format[96];
    char encoding[96];
};

void mm_audio_free(mm_audio *a)
{
    if (!a)
        return;
    free(a->samples);
    free(a);
}

const float *mm_audio_samples(const mm_audio *a)
{
    return a->samples;
}

int64_t mm_audio_n_samples(const mm_audio *a)
{
    return a->n;
}

int32_t mm_audio_sample_rate(const mm_audio *a)
{
    return a->rate;
}

int32_t mm_audio_source_rate(const mm_audio *a)
{
    return a->source_rate;
}

int32_t mm_audio_source_channels(const mm_audio *a)
{
    return a->source_channels;
}

const char *mm_audio_source_format(const mm_audio *a)
{
    return a->format;
}

const char *mm_audio_source_encoding(const mm_audio *a)
{
    return a->encoding;
}

/* libsndfile's name of a major format or of an encoding. */
static void format_name(int format, int command, char *buf, size_t size)
{
    SF_FORMAT_INFO fi = {.format = format};
    if (sf_command(NULL, command, &fi, sizeof fi) == 0 && fi.name)
        snprintf(buf, size, "%s", fi.name);
    else
        snprintf(buf, size, "format 0x%x", (unsigned)format);
}

/* Reads every frame of an open file, averaging the channels. */
static mm_status decode(SNDFILE *f, const SF_INFO *info, const char *what, int32_t target_rate, mm_audio **out)
{
    if (info->channels < 1 || info->channels > MAX_CHANNELS || info->samplerate < 1)
        return mm_error_set(MM_ERR_FORMAT, "%s: implausible audio header (%d channels at %d Hz)", what,
                            info->channels, info->samplerate);
    const int ch = info->channels;
    mm_audio *a = calloc(1, sizeof *a);
    float *buf = malloc(sizeof(float) * READ_FRAMES * (size_t)ch);
    if (!a || !buf) {
        free(a);
        free(buf);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", what);
    }
    a->source_rate = a->rate = info->samplerate;
    a->source_channels = ch;
    format_name(info->format & SF_FORMAT_TYPEMASK, SFC_GET_FORMAT_INFO, a->format, sizeof a->format);
    format_name(info->format & SF_FORMAT_SUBMASK, SFC_GET_FORMAT_INFO, a->encoding, sizeof a->encoding);

    /* The header's frame count is a hint only: compressed streams may not
     * know it, and a truncated file holds fewer. */
    int64_t cap = 0;
    mm_status st = MM_OK;
    for (;;) {
        sf_count_t got = sf_readf_float(f, buf, READ_FRAMES);
        if (got <= 0)
            break;
        if (a->n + got > MAX_SAMPLES) {
            st = mm_error_set(MM_ERR_NOMEM, "%s: more than %lld samples: too long to decode at once", what,
                              (long long)MAX_SAMPLES);
            break;
        }
        if (a->n + got > cap) {
            int64_t want = cap ? cap * 2 : (info->frames > 0 && info->frames < MAX_SAMPLES ? info->frames : 1 << 20);
            while (want < a->n + got)
                want *= 2;
            float *p = realloc(a->samples, sizeof(float) * (size_t)want);
            if (!p) {
                st = mm_error_set(MM_ERR_NOMEM, "%s: out of memory (%lld samples)", what, (long long)want);
                break;
            }
            a->samples = p;
            cap = want;
        }
        float *dst = a->samples + a->n;
        if (ch == 1) {
            memcpy(dst, buf, sizeof(float) * (size_t)got);
        } else {
            for (sf_count_t i = 0; i < got; i++) {
                float s = 0.0f;
                for (int c = 0; c < ch; c++)
                    s += buf[i * ch + c];
                dst[i] = s / (float)ch;
            }
        }
        a->n += got;
    }
    free(buf);
    if (st == MM_OK && sf_error(f) != SF_ERR_NO_ERROR)
        st = mm_error_set(MM_ERR_FORMAT, "%s: decoding failed after %lld samples: %s", what, (long long)a->n,
                          sf_strerror(f));
    if (st == MM_OK && a->n == 0)
        st = mm_error_set(MM_ERR_FORMAT, "%s: no audio samples in the file", what);
    if (st == MM_OK && target_rate > 0 && target_rate != a->rate) {
        float *res;
        int64_t n_res;
        st = mm_audio_resample(a->samples, a->n, a->rate, target_rate, &res, &n_res);
        if (st == MM_OK) {
            free(a->samples);
            a->samples = res;
            a->n = n_res;
            a->rate = target_rate;
        } else {
            mm_error_wrap(st, "%s", what);
        }
    }
    if (st != MM_OK) {
        mm_audio_free(a);
        return st;
    }
    *out = a;
    return MM_OK;
}

static mm_status open_failed(const char *what)
{
    /* libsndfile's "File contains data in an unknown format." and the like. */
    return mm_error_set(MM_ERR_FORMAT, "%s: not an audio file libsndfile can read: %s", what, sf_strerror(NULL));
}

/* ---- memory images (virtual I/O) ---------------------------------------- */

typedef struct {
    const unsigned char *data;
    sf_count_t size, pos;
} mem_io;

static sf_count_t mem_len(void *user)
{
    return ((mem_io *)user)->size;
}

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user)
{
    mem_io *m = user;
    sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
    sf_count_t pos = base + offset;
    if (pos < 0 || pos > m->size)
        return -1;
    m->pos = pos;
    return pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user)
{
    mem_io *m = user;
    sf_count_t left = m->size - m->pos;
    if (count > left)
        count = left;
    if (count > 0) {
        memcpy(ptr, m->data + m->pos, (size_t)count);
        m->pos += count;
    }
    return count > 0 ? count : 0;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user)
{
    return 0; /* read-only */
}

static sf_count_t mem_tell(void *user)
{
    return ((mem_io *)user)->pos;
}

static mm_status load_memory(const void *data, size_t size, const char *what, int32_t target_rate, mm_audio **out)
{
    if (size == 0)
        return mm_error_set(MM_ERR_FORMAT, "%s: empty (0 bytes)", what);
    SF_VIRTUAL_IO vio = {mem_len, mem_seek, mem_read, mem_write, mem_tell};
    mem_io m = {data, (sf_count_t)size, 0};
    SF_INFO info = {0};
    SNDFILE *f = sf_open_virtual(&vio, SFM_READ, &info, &m);
    if (!f)
        return open_failed(what);
    mm_status st = decode(f, &info, what, target_rate, out);
    sf_close(f);
    return st;
}

mm_status mm_audio_load_memory(const void *data, size_t size, int32_t target_rate, mm_audio **out)
{
    if ((!data && size) || !out || target_rate < 0)
        return mm_error_set(MM_ERR_INVALID, "mm_audio_load_memory: NULL argument or negative rate");
    *out = NULL;
    return load_memory(data, size, "audio in memory", target_rate, out);
}

mm_status mm_audio_load(const char *path, int32_t target_rate, mm_audio **out)
{
    if (!path || !out || target_rate < 0)
        return mm_error_set(MM_ERR_INVALID, "mm_audio_load: NULL argument or negative rate");
    *out = NULL;
    int fd;
    const char *what;
    struct stat sb;
    mm_status st = mm_media_open(path, &fd, &what, &sb);
    if (st != MM_OK)
        return st;
    const bool is_stdin = strcmp(path, "-") == 0;
    if (S_ISREG(sb.st_mode) && !is_stdin) {
        if (sb.st_size == 0) {
            close(fd);
            return mm_error_set(MM_ERR_FORMAT, "%s: empty file (0 bytes)", what);
        }
        SF_INFO info = {0};
        SNDFILE *f = sf_open_fd(fd, SFM_READ, &info, SF_FALSE);
        st = f ? decode(f, &info, what, target_rate, out) : open_failed(what);
        if (f)
            sf_close(f);
        close(fd);
        return st;
    }
    unsigned char *data = NULL;
    size_t size = 0;
    st = mm_media_read_fd(fd, what, MAX_STREAM_BYTES, &data, &size);
    mm_media_close(path, fd);
    if (st != MM_OK)
        return st;
    st = load_memory(data, size, what, target_rate, out);
    free(data);
    return st;
}
