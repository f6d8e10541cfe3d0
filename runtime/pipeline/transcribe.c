/* Speech to text (mm/transcribe.h): openai-whisper's transcribe() loop over
 * 30 s windows of log-mel features. Each window is encoded once; its
 * decoder prompt is the previous windows' text (when conditioning), then
 * <|startoftranscript|><|lang|><|task|>[<|notimestamps|>]; the logits at the
 * start token give the no-speech probability (and, on the first window, the
 * language); generation retries at higher temperatures when the text comes
 * out repetitive or unlikely; timestamp tokens cut the window into
 * segments, and the next window starts at the last complete one. */
#include "mm/generate.h"
#include "mm/tokenizer.h"
#include "mm/transcribe.h"
#include "whisper_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define WHISPER_CHUNK_S 30.0 /* every Whisper model's window */

struct mm_transcriber {
    mm_runtime *rt;
    mm_model *model;
    mm_encoder *enc;
    mm_decoder *dec[2]; /* one sequence; beam_size sequences (made when first asked for) */
    int32_t dec_seq[2];
    mm_tokenizer *tok;
    whisper_config cfg;
    int32_t n_mels, n_frames, n_audio_ctx;
    float *window;  /* one window of features, [n_mels][n_frames] */
    float *states;  /* its encoder states, the decoders' source    */
    mm_shape states_shape;
    float *logits;  /* n_seq x n_vocab scratch                   */
    size_t logits_cap;
};

mm_transcribe_params mm_transcribe_default_params(void)
{
    return (mm_transcribe_params){
        .task = MM_TASK_TRANSCRIBE,
        .timestamps = true,
        .beam_size = 1,
        .length_penalty = 1.0f,
        .fallback = true,
        .compression_ratio_threshold = 2.4f,
        .logprob_threshold = -1.0f,
        .no_speech_threshold = 0.6f,
        .condition_on_previous = true,
    };
}

bool mm_whisper_window_is_silent(float no_speech_prob, float avg_logprob, float no_speech_threshold,
                                 float logprob_threshold)
{
    if (!(no_speech_prob > no_speech_threshold))
        return false;
    /* openai-whisper: a likely enough text overrides the no-speech token */
    return isnan(logprob_threshold) || !(avg_logprob > logprob_threshold);
}

void mm_transcript_clear(mm_transcript *r)
{
    if (!r)
        return;
    for (int32_t i = 0; i < r->n_segments; i++) {
        free(r->segments[i].text);
        free(r->segments[i].tokens);
    }
    free(r->segments);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ---- loading ------------------------------------------------------------------ */

mm_status mm_transcriber_init(mm_runtime *rt, const char *model_dir, mm_transcriber **out)
{
    *out = NULL;
    mm_transcriber *t = calloc(1, sizeof *t);
    if (!t)
        return mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
    t->rt = rt;
    mm_status s = mm_model_load(model_dir, &t->model);
    if (s == MM_OK && strcmp(mm_model_type(t->model), "whisper") != 0)
        s = mm_error_set(MM_ERR_UNSUPPORTED, "%s is a %s model, not a Whisper one (model_type \"whisper\")", model_dir,
                         mm_model_type(t->model));
    if (s == MM_OK)
        s = mm_tokenizer_load(model_dir, &t->tok);
    if (s == MM_OK)
        s = whisper_config_load(model_dir, t->tok, &t->cfg);
    if (s == MM_OK && t->cfg.timestamp_begin < 0)
        s = mm_error_set(MM_ERR_FORMAT, "%s: the tokenizer has no timestamp tokens", model_dir);
    if (s == MM_OK)
        s = mm_encoder_init(rt, t->model, &t->enc);
    mm_shape in;
    if (s == MM_OK)
        s = mm_encoder_input_shape(t->enc, 1, &in);
    if (s == MM_OK) {
        t->n_frames = (int32_t)in.ne[0];
        t->n_mels = (int32_t)in.ne[1];
        t->n_audio_ctx = t->n_frames / 2; /* the conv stem halves time */
        t->dec_seq[0] = 1;
        s = mm_decoder_init(rt, t->model, &(mm_decoder_params){.n_seq = 1}, &t->dec[0]);
    }
    if (s == MM_OK && mm_decoder_n_vocab(t->dec[0]) < t->cfg.timestamp_begin)
        s = mm_error_set(MM_ERR_FORMAT, "%s: the decoder's %d-token vocabulary lacks the tokenizer's timestamps (from %d)",
                         model_dir, mm_decoder_n_vocab(t->dec[0]), t->cfg.timestamp_begin);
    if (s == MM_OK && !(t->window = malloc((size_t)t->n_mels * t->n_frames * sizeof *t->window)))
        s = mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
    if (s != MM_OK) {
        mm_transcriber_free(t);
        return s;
    }
    *out = t;
    return MM_OK;
}

void mm_transcriber_free(mm_transcriber *t)
{
    if (!t)
        return;
    mm_decoder_free(t->dec[0]);
    mm_decoder_free(t->dec[1]);
    mm_encoder_free(t->enc);
    whisper_config_free(&t->cfg);
    mm_tokenizer_free(t->tok);
    mm_model_free(t->model);
    free(t->window);
    free(t->states);
    free(t->logits);
    free(t);
}

int32_t mm_transcriber_n_mels(const mm_transcriber *t)
{
    return t->n_mels;
}

int32_t mm_transcriber_n_frames(const mm_transcriber *t)
{
    return t->n_frames;
}

bool mm_transcriber_language_known(const mm_transcriber *t, const char *code)
{
    return code && whisper_lang_id(&t->cfg, code) >= 0;
}

/* The decoder running n_seq sequences (1, or the beam size). */
static mm_status decoder_for(mm_transcriber *t, int32_t n_seq, mm_decoder **out)
{
    int slot = n_seq == 1 ? 0 : 1;
    if (t->dec[slot] && t->dec_seq[slot] != n_seq) {
        mm_decoder_free(t->dec[slot]);
        t->dec[slot] = NULL;
    }
    if (!t->dec[slot]) {
        mm_status s;
        s = mm_decoder_init(t->rt, t->model, &(mm_decoder_params){.n_seq = n_seq}, &t->dec[slot]);
        if (s != MM_OK)
            return s;
        t->dec_seq[slot] = n_seq;
        if (t->states && (s = mm_decoder_set_source(t->dec[slot], t->states, &t->states_shape, NULL)) != MM_OK)
            return s;
    }
    size_t need = (size_t)n_seq * mm_decoder_n_vocab(t->dec[slot]);
    if (need > t->logits_cap) {
        float *l = realloc(t->logits, need * sizeof *l);
        if (!l)
            return mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
        t->logits = l;
        t->logits_cap = need;
    }
    *out = t->dec[slot];
    return MM_OK;
}

/* ---- one window ------------------------------------------------------------------ */

typedef struct window_result {
    int32_t *tokens; /* generated, the end token dropped */
    int32_t n_tokens;
    double sum_logprob;
    float avg_logprob, no_speech_prob, temperature, compression_ratio;
} window_result;

/* Feeds prompt[0..n] to every sequence of d from position 0; the logits of
 * the last token (row of sequence 0) are left in t->logits. */
static mm_status prefill(mm_transcriber *t, mm_decoder *d, const int32_t *prompt, int32_t n)
{
    int32_t n_seq = mm_decoder_n_seq(d);
    int32_t *toks = malloc((size_t)n_seq * n * sizeof *toks), *pos = calloc((size_t)n_seq, sizeof *pos);
    mm_status s = toks && pos ? MM_OK : mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
    for (int32_t q = 0; s == MM_OK && q < n_seq; q++)
        memcpy(toks + (size_t)q * n, prompt, (size_t)n * sizeof *toks);
    if (s == MM_OK)
        s = mm_decoder_decode(d, n, toks, pos, false, t->logits);
    free(toks);
    free(pos);
    return s;
}

static float softmax_prob(const float *logits, int32_t n, int32_t id)
{
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    return (float)(exp((double)logits[id] - max) / sum);
}

/* gzip's view of how repetitive a text is: its length over its deflated length. */
static float compression_ratio(const char *text)
{
    uLong n = (uLong)strlen(text);
    if (n == 0)
        return 0.0f;
    uLongf cap = compressBound(n);
    Bytef *buf = malloc(cap);
    float r = 0.0f;
    if (buf && compress(buf, &cap, (const Bytef *)text, n) == Z_OK && cap > 0)
        r = (float)n / (float)cap;
    free(buf);
    return r;
}

static mm_status decode_text(const mm_transcriber *t, const int32_t *ids, int32_t n, char **out)
{
    uint32_t flags = MM_DETOKENIZE_SKIP_SPECIAL | (mm_tokenizer_cleanup_default(t->tok) ? MM_DETOKENIZE_CLEANUP : 0);
    return mm_tokenizer_decode_alloc(t->tok, ids, n, flags, out);
}

typedef struct ts_hook {
    mm_whisper_timestamp_rules rules;
} ts_hook;

static void timestamp_hook(void *user, float *logits, int32_t n_vocab, const int32_t *generated, int32_t n)
{
    mm_logits_whisper_timestamps(logits, n_vocab, generated, n, &((ts_hook *)user)->rules);
}

/* Generates one window's text at temperature temp; the prompt's first
 * n_cached tokens are already in the decoder's caches. */
static mm_status generate_once(mm_transcriber *t, mm_decoder *d, const mm_transcribe_params *p, const int32_t *prompt,
                               int32_t n_prompt, int32_t n_cached, float temp, window_result *r)
{
    ts_hook hook = {.rules = {.timestamp_begin = t->cfg.timestamp_begin, .eot = t->cfg.eot,
                              .no_timestamps = t->cfg.no_timestamps,
                              .max_initial_timestamp_index = t->cfg.max_initial_timestamp_index}};
    mm_gen_params gp = mm_gen_default_params();
    gp.max_new_tokens = p->max_tokens > 0 ? p->max_tokens : mm_decoder_n_ctx(d) / 2;
    gp.eos_id = t->cfg.eot;
    gp.n_beams = mm_decoder_n_seq(d);
    gp.length_penalty = p->length_penalty;
    gp.sampling.temperature = temp;
    gp.sampling.seed = p->seed;
    gp.suppress = t->cfg.suppress;
    gp.n_suppress = t->cfg.n_suppress;
    gp.begin_suppress = t->cfg.begin_suppress;
    gp.n_begin_suppress = t->cfg.n_begin_suppress;
    if (p->timestamps) {
        gp.hook = timestamp_hook;
        gp.hook_user = &hook;
    }
    mm_gen_result g;
    mm_status s = mm_generate(d, &gp, prompt, n_prompt, n_cached, 1, &g);
    if (s != MM_OK)
        return s;
    int32_t n = 0;
    while (n < g.n_tokens && g.tokens[n] != t->cfg.eot)
        n++;
    free(r->tokens);
    r->tokens = g.tokens; /* taken over; the end token is cut by n_tokens */
    r->n_tokens = n;
    r->sum_logprob = g.sum_logprob;
    r->avg_logprob = (float)(g.sum_logprob / (n + 1)); /* openai-whisper counts the end token */
    r->temperature = temp;
    char *text = NULL;
    s = decode_text(t, r->tokens, n, &text);
    if (s == MM_OK)
        r->compression_ratio = compression_ratio(text);
    free(text);
    return s;
}

/* The window's text with temperature fallback (decode_with_fallback). */
static mm_status decode_window(mm_transcriber *t, const mm_transcribe_params *p, const int32_t *prompt,
                               int32_t n_prompt, int32_t sot_index, window_result *r)
{
    static const float temps[] = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};
    int32_t n_temps = p->fallback ? 6 : 1;
    bool prefilled[2] = {false, false};
    mm_status s = MM_OK;
    for (int32_t i = 0; i < n_temps && s == MM_OK; i++) {
        /* beam search at temperature 0, one sampled sequence above */
        int32_t n_seq = temps[i] > 0 || p->beam_size < 2 ? 1 : p->beam_size;
        mm_decoder *d = NULL;
        if ((s = decoder_for(t, n_seq, &d)) != MM_OK)
            break;
        int slot = n_seq == 1 ? 0 : 1;
        if (!prefilled[slot]) {
            /* everything up to the start token: its logits say whether anyone speaks */
            if ((s = prefill(t, d, prompt, sot_index + 1)) != MM_OK)
                break;
            if (i == 0)
                r->no_speech_prob = t->cfg.no_speech >= 0
                                        ? softmax_prob(t->logits, mm_decoder_n_vocab(d), t->cfg.no_speech)
                                        : 0.0f;
            prefilled[slot] = true;
        }
        s = generate_once(t, d, p, prompt, n_prompt, sot_index + 1, temps[i], r);
        bool repetitive = r->compression_ratio > p->compression_ratio_threshold;
        bool unlikely = !isnan(p->logprob_threshold) && r->avg_logprob < p->logprob_threshold;
        bool silent = r->no_speech_prob > p->no_speech_threshold;
        if (!(repetitive || unlikely) || silent)
            break;
    }
    return s;
}

/* ---- the loop over windows ----------------------------------------------------------- */

typedef struct token_list {
    int32_t *v;
    int32_t n, cap;
} token_list;

static mm_status tl_push(token_list *l, const int32_t *v, int32_t n)
{
    if (l->n + n > l->cap) {
        int32_t cap = (l->n + n) * 2 + 64;
        int32_t *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
        l->v = nv;
        l->cap = cap;
    }
    memcpy(l->v + l->n, v, (size_t)n * sizeof *v);
    l->n += n;
    return MM_OK;
}

/* Segments never leave their window's audio: a random or confused model
 * may stamp times past its end. */
typedef struct window_span {
    double start, end; /* seconds */
} window_span;

static double clamp_time(double x, const window_span *w)
{
    return x < w->start ? w->start : x > w->end ? w->end : x;
}

static mm_status add_segment(mm_transcriber *t, mm_transcript *out, double start, double end, const int32_t *tokens,
                             int32_t n, const window_result *r, const window_span *w)
{
    start = clamp_time(start, w);
    end = clamp_time(end, w);
    if (end < start)
        end = start;
    char *text = NULL;
    mm_status s = decode_text(t, tokens, n, &text);
    if (s != MM_OK)
        return s;
    const char *c = text;
    while (*c == ' ' || *c == '\n' || *c == '\t')
        c++;
    if (!*c) { /* nothing said: no segment */
        free(text);
        return MM_OK;
    }
    mm_segment *segs = realloc(out->segments, (size_t)(out->n_segments + 1) * sizeof *segs);
    int32_t *tok = malloc((size_t)(n > 0 ? n : 1) * sizeof *tok);
    if (!segs || !tok) {
        free(text);
        free(tok);
        if (segs)
            out->segments = segs;
        return mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
    }
    out->segments = segs;
    memcpy(tok, tokens, (size_t)n * sizeof *tok);
    segs[out->n_segments++] = (mm_segment){.start = start, .end = end, .text = text, .tokens = tok, .n_tokens = n,
                                           .avg_logprob = r->avg_logprob, .no_speech_prob = r->no_speech_prob,
                                           .temperature = r->temperature, .compression_ratio = r->compression_ratio};
    return MM_OK;
}

/* Cuts the window's tokens at timestamp pairs into segments; returns how
 * many frames the window consumed. */
static mm_status segment_window(mm_transcriber *t, mm_transcript *out, const window_result *r, double offset_s,
                                int32_t segment_frames, int32_t *consumed)
{
    const window_span w = {offset_s, offset_s + segment_frames * (WHISPER_CHUNK_S / t->n_frames)};
    const int32_t tb = t->cfg.timestamp_begin, *tok = r->tokens, n = r->n_tokens;
    const double frame_s = WHISPER_CHUNK_S / t->n_frames, precision = frame_s * t->n_frames / t->n_audio_ctx;
    const int32_t stride = t->n_frames / t->n_audio_ctx; /* frames per timestamp step */
    bool single_end = n >= 2 && tok[n - 2] < tb && tok[n - 1] >= tb;
    mm_status s = MM_OK;
    int32_t last = 0, n_cuts = 0;
    for (int32_t i = 1; i < n && s == MM_OK; i++) {
        if (!(tok[i - 1] >= tb && tok[i] >= tb))
            continue;
        n_cuts++;
        s = add_segment(t, out, offset_s + (tok[last] - tb) * precision, offset_s + (tok[i - 1] - tb) * precision,
                        tok + last, i - last, r, &w);
        last = i;
    }
    if (s != MM_OK)
        return s;
    if (n_cuts > 0) {
        if (single_end) {
            s = add_segment(t, out, offset_s + (tok[last] - tb) * precision, offset_s + (tok[n - 1] - tb) * precision,
                            tok + last, n - last, r, &w);
            *consumed = segment_frames;
        } else {
            *consumed = (tok[last - 1] - tb) * stride;
        }
        return s;
    }
    double duration = segment_frames * frame_s;
    for (int32_t i = n - 1; i >= 0; i--)
        if (tok[i] >= tb) {
            if (tok[i] != tb)
                duration = (tok[i] - tb) * precision;
            break;
        }
    *consumed = segment_frames;
    return add_segment(t, out, offset_s, offset_s + duration, tok, n, r, &w);
}

static mm_status detect_language(mm_transcriber *t, char *code, size_t size)
{
    mm_decoder *d = NULL;
    mm_status s = decoder_for(t, 1, &d);
    if (s == MM_OK)
        s = prefill(t, d, &t->cfg.sot, 1);
    if (s != MM_OK)
        return mm_error_wrap(s, "language detection");
    int32_t best = -1;
    for (int32_t i = 0; i < t->cfg.n_langs; i++)
        if (best < 0 || t->logits[t->cfg.langs[i].id] > t->logits[t->cfg.langs[best].id])
            best = i;
    if (best < 0)
        return mm_error_set(MM_ERR_FORMAT, "language detection: the tokenizer has no language tokens");
    snprintf(code, size, "%s", t->cfg.langs[best].code);
    return MM_OK;
}

/* True when the window's audio frames are all alike: digital silence,
 * whose log-mel is one constant (the extractor's floor). */
static bool is_digital_silence(const mm_transcriber *t, const float *mel, int64_t n_frames, int64_t seek,
                               int32_t seg_frames)
{
    const float first = mel[seek];
    for (int32_t m = 0; m < t->n_mels; m++) {
        const float *row = mel + (size_t)m * n_frames + seek;
        for (int32_t i = 0; i < seg_frames; i++)
            if (fabsf(row[i] - first) > 1e-6f)
                return false;
    }
    return true;
}

static mm_status encode_window(mm_transcriber *t, const float *mel, int64_t n_frames_total, int64_t seek)
{
    for (int32_t m = 0; m < t->n_mels; m++)
        memcpy(t->window + (size_t)m * t->n_frames, mel + (size_t)m * n_frames_total + seek,
               (size_t)t->n_frames * sizeof *t->window);
    free(t->states);
    t->states = NULL;
    mm_status s = mm_encoder_run(t->enc, t->window, 1, &t->states, &t->states_shape);
    for (int i = 0; s == MM_OK && i < 2; i++)
        if (t->dec[i])
            s = mm_decoder_set_source(t->dec[i], t->states, &t->states_shape, NULL);
    return s;
}

static mm_status join_text(mm_transcript *out)
{
    size_t len = 0;
    for (int32_t i = 0; i < out->n_segments; i++)
        len += strlen(out->segments[i].text);
    out->text = malloc(len + 1);
    if (!out->text)
        return mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
    out->text[0] = 0;
    for (int32_t i = 0, at = 0; i < out->n_segments; i++) {
        size_t n = strlen(out->segments[i].text);
        memcpy(out->text + at, out->segments[i].text, n + 1);
        at += (int32_t)n;
    }
    return MM_OK;
}

mm_status mm_transcribe(mm_transcriber *t, const float *mel, int64_t n_frames, const mm_transcribe_params *p,
                        mm_transcript *out)
{
    memset(out, 0, sizeof *out);
    mm_transcribe_params params = p ? *p : mm_transcribe_default_params();
    if (!mel || n_frames < t->n_frames)
        return mm_error_set(MM_ERR_INVALID, "transcribe: %lld frames of features; at least the %d frames of padding expected",
                            (long long)n_frames, t->n_frames);
    if (params.beam_size < 1 || params.beam_size > 16)
        return mm_error_set(MM_ERR_INVALID, "transcribe: beam size %d (1..16)", params.beam_size);
    int32_t lang = -1;
    if (params.language) {
        lang = whisper_lang_id(&t->cfg, params.language);
        if (lang < 0)
            return mm_error_set(MM_ERR_INVALID, "transcribe: unknown language '%s' (a code such as en, de, fr, ja)",
                                params.language);
    }
    if (!t->cfg.multilingual && params.task == MM_TASK_TRANSLATE)
        return mm_error_set(MM_ERR_UNSUPPORTED, "transcribe: an English-only model cannot translate");
    const int64_t content = n_frames - t->n_frames;
    const double frame_s = WHISPER_CHUNK_S / t->n_frames;
    const int32_t n_ctx = mm_decoder_n_ctx(t->dec[0]);
    token_list all = {0};
    int32_t prompt_reset = 0;
    mm_status s = MM_OK;
    if (params.initial_prompt && *params.initial_prompt) {
        char *spaced = malloc(strlen(params.initial_prompt) + 2);
        int32_t n = 0;
        if (!spaced)
            return mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
        sprintf(spaced, " %s", params.initial_prompt);
        s = mm_tokenizer_encode(t->tok, spaced, 0, NULL, 0, &n);
        int32_t *ids = s == MM_OK ? malloc((size_t)(n > 0 ? n : 1) * sizeof *ids) : NULL;
        if (s == MM_OK && ids && (s = mm_tokenizer_encode(t->tok, spaced, 0, ids, n, &n)) == MM_OK)
            s = tl_push(&all, ids, n);
        free(ids);
        free(spaced);
    }
    if (lang >= 0)
        snprintf(out->language, sizeof out->language, "%s", params.language);
    int32_t *prompt = malloc((size_t)n_ctx * sizeof *prompt);
    window_result r = {0};
    if (!prompt)
        s = mm_error_set(MM_ERR_NOMEM, "transcriber: out of memory");
    for (int64_t seek = 0; s == MM_OK && seek < content;) {
        int32_t seg_frames = (int32_t)(content - seek < t->n_frames ? content - seek : t->n_frames);
        if (is_digital_silence(t, mel, n_frames, seek, seg_frames)) {
            /* nothing was recorded: no model, however confused, may put words there */
            seek += seg_frames;
            if (params.progress)
                params.progress(params.progress_user, seek * frame_s, content * frame_s);
            continue;
        }
        if ((s = encode_window(t, mel, n_frames, seek)) != MM_OK)
            break;
        if (lang < 0) {
            if (t->cfg.multilingual) {
                if ((s = detect_language(t, out->language, sizeof out->language)) != MM_OK)
                    break;
                lang = whisper_lang_id(&t->cfg, out->language);
            } else {
                lang = whisper_lang_id(&t->cfg, "en");
            }
        }
        if (!out->language[0])
            snprintf(out->language, sizeof out->language, "%s", whisper_lang_code(&t->cfg, lang) ? whisper_lang_code(&t->cfg, lang) : "en");
        /* [<|startofprev|> previous text] <|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>] */
        int32_t n = 0, keep = all.n - prompt_reset, room = n_ctx / 2 - 1;
        if (keep > 0) {
            if (keep > room)
                keep = room;
            prompt[n++] = t->cfg.sot_prev;
            memcpy(prompt + n, all.v + all.n - keep, (size_t)keep * sizeof *prompt);
            n += keep;
        }
        int32_t sot_index = n;
        prompt[n++] = t->cfg.sot;
        if (t->cfg.multilingual) {
            prompt[n++] = lang;
            prompt[n++] = params.task == MM_TASK_TRANSLATE ? t->cfg.translate : t->cfg.transcribe;
        }
        if (!params.timestamps)
            prompt[n++] = t->cfg.no_timestamps;
        if ((s = decode_window(t, &params, prompt, n, sot_index, &r)) != MM_OK)
            break;
        double offset = seek * frame_s;
        int32_t consumed = seg_frames;
        if (!mm_whisper_window_is_silent(r.no_speech_prob, r.avg_logprob, params.no_speech_threshold,
                                         params.logprob_threshold)) {
            int32_t first = out->n_segments;
            const window_span w = {offset, offset + seg_frames * frame_s};
            if (params.timestamps)
                s = segment_window(t, out, &r, offset, seg_frames, &consumed);
            else
                s = add_segment(t, out, offset, w.end, r.tokens, r.n_tokens, &r, &w);
            for (int32_t i = first; s == MM_OK && i < out->n_segments; i++)
                s = tl_push(&all, out->segments[i].tokens, out->segments[i].n_tokens);
            if (!params.condition_on_previous || r.temperature > 0.5f)
                prompt_reset = all.n;
        }
        seek += consumed > 0 ? consumed : seg_frames; /* always forward */
        if (params.progress)
            params.progress(params.progress_user, (seek < content ? seek : content) * frame_s, content * frame_s);
    }
    if (s == MM_OK)
        s = join_text(out);
    free(r.tokens);
    free(prompt);
    free(all.v);
    if (s != MM_OK)
        mm_transcript_clear(out);
    return s;
}
