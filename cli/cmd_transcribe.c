/* `mmrun transcribe -m MODEL_DIR FILE...`: speech to text with a Whisper
 * folder, as whisper.cpp's CLI and openai-whisper do: text on stdout, or
 * subtitles (SRT, WebVTT) and JSON, on stdout or one file per input and
 * format in --output-dir. One loaded model serves every file; a file that
 * fails is reported and the others are still transcribed. */
#include "cli.h"
#include "mm/media.h"
#include "mm/transcribe.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT(field) offsetof(cli_options, transcribe.field)

static const cli_enum_name task_names[] = {{"transcribe", MM_TASK_TRANSCRIBE}, {"translate", MM_TASK_TRANSLATE}, {NULL, 0}};

const cli_option cmd_transcribe_options[] = {
    {.name = "model", .short_name = 'm', .type = CLI_OPT_STRING, .offset = OPT(model), .arg = "DIR",
     .help = "the Whisper model folder (required)"},
    {.name = "language", .short_name = 'l', .type = CLI_OPT_STRING, .offset = OPT(language), .arg = "LANG",
     .help = "spoken language (en, de, fr, ...); default: detected"},
    {.name = "task", .type = CLI_OPT_ENUM, .offset = OPT(task), .names = task_names,
     .help = "transcribe (default), or translate into English"},
    {.name = "beam-size", .type = CLI_OPT_INT, .offset = OPT(beam_size), .arg = "N",
     .help = "beams of the search at temperature 0 (default 1: greedy)", .lo = 1, .hi = 16},
    {.name = "max-tokens", .type = CLI_OPT_INT, .offset = OPT(max_tokens), .arg = "N",
     .help = "tokens per 30 s window (default: half the context)", .lo = 1, .hi = 4096},
    {.name = "no-timestamps", .type = CLI_OPT_FLAG, .offset = OPT(no_timestamps),
     .help = "no timestamp tokens: one segment per 30 s window"},
    {.name = "no-fallback", .type = CLI_OPT_FLAG, .offset = OPT(no_fallback),
     .help = "temperature 0 only (no retries at 0.2 ... 1.0)"},
    {.name = "no-condition", .type = CLI_OPT_FLAG, .offset = OPT(no_condition),
     .help = "do not prompt a window with the previous one's text"},
    {.name = "initial-prompt", .type = CLI_OPT_STRING, .offset = OPT(initial_prompt), .arg = "TEXT",
     .help = "text that primes the first window (names, spelling)"},
    {.name = "seed", .type = CLI_OPT_INT, .offset = OPT(seed), .arg = "N",
     .help = "seed of the sampled fallbacks (default 0)", .lo = 0, .hi = 2147483647},
    {.name = "srt", .type = CLI_OPT_FLAG, .offset = OPT(srt), .help = "SubRip subtitles"},
    {.name = "vtt", .type = CLI_OPT_FLAG, .offset = OPT(vtt), .help = "WebVTT subtitles"},
    {.name = "json", .type = CLI_OPT_FLAG, .offset = OPT(json),
     .help = "JSON: language, text, segments (start, end, text,\ntokens, avg_logprob, no_speech_prob, temperature)"},
    {.name = "output-dir", .short_name = 'o', .type = CLI_OPT_STRING, .offset = OPT(output_dir), .arg = "DIR",
     .help = "write NAME.txt/.srt/.vtt/.json there, one per input\nand format, instead of stdout"},
    {0},
};

typedef enum out_format { FMT_TEXT, FMT_SRT, FMT_VTT, FMT_JSON } out_format;

static void timestamp(FILE *f, double s, char sep)
{
    long ms = (long)(s * 1000.0 + 0.5);
    fprintf(f, "%02ld:%02ld:%02ld%c%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
}

static const char *trimmed(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

static void write_subtitles(FILE *f, const mm_transcript *r, bool vtt)
{
    if (vtt)
        fputs("WEBVTT\n\n", f);
    for (int32_t i = 0; i < r->n_segments; i++) {
        const mm_segment *sg = &r->segments[i];
        if (!vtt)
            fprintf(f, "%d\n", i + 1);
        timestamp(f, sg->start, vtt ? '.' : ',');
        fputs(" --> ", f);
        timestamp(f, sg->end, vtt ? '.' : ',');
        fprintf(f, "\n%s\n\n", trimmed(sg->text));
    }
}

/* A JSON number printed as fmt says (0.6, not json-c's 0.59999999999999998). */
static json_object *number(double v, const char *fmt)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    return json_object_new_double_s(v, buf);
}

static void write_json(FILE *f, const mm_transcript *r)
{
    json_object *root = json_object_new_object(), *segs = json_object_new_array();
    json_object_object_add(root, "language", json_object_new_string(r->language));
    json_object_object_add(root, "text", json_object_new_string(r->text ? r->text : ""));
    for (int32_t i = 0; i < r->n_segments; i++) {
        const mm_segment *sg = &r->segments[i];
        json_object *o = json_object_new_object(), *toks = json_object_new_array();
        for (int32_t j = 0; j < sg->n_tokens; j++)
            json_object_array_add(toks, json_object_new_int(sg->tokens[j]));
        json_object_object_add(o, "start", number(sg->start, "%.3f"));
        json_object_object_add(o, "end", number(sg->end, "%.3f"));
        json_object_object_add(o, "text", json_object_new_string(sg->text));
        json_object_object_add(o, "tokens", toks);
        json_object_object_add(o, "avg_logprob", number(sg->avg_logprob, "%.6g"));
        json_object_object_add(o, "no_speech_prob", number(sg->no_speech_prob, "%.6g"));
        json_object_object_add(o, "temperature", number(sg->temperature, "%.1f"));
        json_object_array_add(segs, o);
    }
    json_object_object_add(root, "segments", segs);
    fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static void write_format(FILE *f, const mm_transcript *r, out_format fmt)
{
    switch (fmt) {
    case FMT_TEXT:
        fprintf(f, "%s\n", trimmed(r->text ? r->text : ""));
        break;
    case FMT_SRT:
    case FMT_VTT:
        write_subtitles(f, r, fmt == FMT_VTT);
        break;
    case FMT_JSON:
        write_json(f, r);
        break;
    }
}

/* DIR/<input's name without its extension>.ext; "-" becomes "stdin". */
static bool write_file(const char *dir, const char *input, out_format fmt, const mm_transcript *r)
{
    static const char *ext[] = {"txt", "srt", "vtt", "json"};
    const char *base = strcmp(input, "-") == 0 ? "stdin" : strrchr(input, '/') ? strrchr(input, '/') + 1 : input;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    char path[4096];
    snprintf(path, sizeof path, "%s/%.*s.%s", dir, len, base, ext[fmt]);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "mmrun: error: %s: cannot write %s\n", input, path);
        return false;
    }
    write_format(f, r, fmt);
    bool ok = fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "mmrun: error: %s: cannot write %s\n", input, path);
    return ok;
}

typedef struct progress_ctx {
    const char *name;
    bool shown;
} progress_ctx;

static void progress(void *user, double done_s, double total_s)
{
    progress_ctx *p = user;
    if (total_s <= 30.0) /* one window: nothing worth a progress line */
        return;
    fprintf(stderr, "\rmmrun: %s: %.0f of %.0f s (%.0f%%)", p->name, done_s, total_s, 100.0 * done_s / total_s);
    p->shown = true;
}

/* Features of `path` as the transcriber takes them: the audio, then one
 * window of silence (openai-whisper's layout). */
static bool file_features(const char *path, const mm_mel *mel, float **feats, int64_t *n_frames)
{
    mm_audio *a = NULL;
    if (mm_audio_load(path, mm_mel_sampling_rate(mel), &a) != MM_OK)
        return false;
    int64_t n = mm_audio_n_samples(a), padded = n + mm_mel_n_samples(mel);
    *n_frames = mm_mel_frames_for(mel, padded);
    *feats = malloc((size_t)mm_mel_n_mels(mel) * (size_t)*n_frames * sizeof **feats);
    bool ok = *feats && mm_mel_compute_padded(mel, mm_audio_samples(a), n, padded, *feats) == MM_OK;
    if (!*feats)
        mm_error_set(MM_ERR_NOMEM, "cannot allocate the features of %.0f s of audio", (double)n / mm_mel_sampling_rate(mel));
    mm_audio_free(a);
    return ok;
}

int cmd_transcribe(int argc, char **argv, cli_options *opt)
{
    const char *dir = opt->transcribe.model;
    if (!dir) {
        fputs("mmrun: error: transcribe needs a model folder (-m DIR); see mmrun help transcribe\n", stderr);
        return 2;
    }
    out_format formats[3];
    int n_formats = 0;
    if (opt->transcribe.srt)
        formats[n_formats++] = FMT_SRT;
    if (opt->transcribe.vtt)
        formats[n_formats++] = FMT_VTT;
    if (opt->transcribe.json)
        formats[n_formats++] = FMT_JSON;
    if (n_formats == 0)
        formats[n_formats++] = FMT_TEXT;

    mm_transcribe_params p = mm_transcribe_default_params();
    p.language = opt->transcribe.language;
    p.task = (mm_task)opt->transcribe.task;
    p.timestamps = !opt->transcribe.no_timestamps;
    p.beam_size = opt->transcribe.beam_size ? opt->transcribe.beam_size : 1;
    p.max_tokens = opt->transcribe.max_tokens;
    p.fallback = !opt->transcribe.no_fallback;
    p.condition_on_previous = !opt->transcribe.no_condition;
    p.initial_prompt = opt->transcribe.initial_prompt;
    p.seed = (uint64_t)opt->transcribe.seed;
    p.progress = progress;

    mm_runtime *rt = NULL;
    mm_transcriber *t = NULL;
    mm_mel *mel = NULL;
    if (mm_runtime_init(&opt->rt, &rt) != MM_OK) {
        int rc = cli_fail("cannot start the runtime");
        return rc;
    }
    int rc = 0;
    if (mm_transcriber_init(rt, dir, &t) != MM_OK) {
        rc = cli_fail(dir);
    } else if (p.language && !mm_transcriber_language_known(t, p.language)) {
        fprintf(stderr, "mmrun: error: --language: '%s' is not a language of %s (a code such as en, de, fr, ja); "
                        "see mmrun help transcribe\n", p.language, dir);
        rc = 2;
    } else if (mm_mel_init(dir, &mel) != MM_OK) {
        rc = cli_fail(dir);
    } else if (mm_mel_n_mels(mel) != mm_transcriber_n_mels(t)) {
        fprintf(stderr, "mmrun: error: %s: preprocessor_config.json makes %d mel bins, the encoder takes %d\n", dir,
                mm_mel_n_mels(mel), mm_transcriber_n_mels(t));
        rc = 1;
    }
    for (int i = 1; (rc == 0 || rc == 3) && i < argc; i++) {
        const char *path = argv[i];
        float *feats = NULL;
        int64_t n_frames = 0;
        mm_transcript r;
        progress_ctx pc = {.name = path};
        p.progress_user = &pc;
        if (!file_features(path, mel, &feats, &n_frames)) {
            free(feats);
            cli_fail(path);
            rc = 3; /* reported; the other files go on */
            continue;
        }
        mm_status s = mm_transcribe(t, feats, n_frames, &p, &r);
        free(feats);
        if (pc.shown)
            fputc('\n', stderr);
        if (s != MM_OK) {
            cli_fail(path);
            rc = 3;
            continue;
        }
        for (int k = 0; k < n_formats; k++) {
            if (opt->transcribe.output_dir) {
                if (!write_file(opt->transcribe.output_dir, path, formats[k], &r))
                    rc = 3;
            } else {
                write_format(stdout, &r, formats[k]);
            }
        }
        fflush(stdout);
        mm_transcript_clear(&r);
    }
    mm_mel_free(mel);
    mm_transcriber_free(t);
    mm_runtime_free(rt);
    return rc == 3 ? 1 : rc;
}
