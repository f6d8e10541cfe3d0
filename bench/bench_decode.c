/* bench-decode: text decoders at checkpoint sizes, per backend, random
 * weights written as temporary Hugging Face folders.
 *
 * Whisper (tiny and base dimensions, F32 and F16 weights): encoder ms, ms
 * per decoder step at beam 1 and beam 5 (mm_decoder_decode, with
 * mm_decoder_reorder between steps for beams), and the real-time factor of
 * transcribing jfk.wav (11 s) through mm_transcribe; each step next to the
 * memory-bandwidth bound of a step: the weight bytes it reads over the copy
 * bandwidth measured at the start of the run.
 *
 * Captioning (vit-gpt2: ViT-B/16 encoder, GPT-2 small decoder with
 * cross-attention): encoder ms per image, decoder tokens/s at batch 1 and
 * 8, beam 1 and 3.
 *
 * Random weights never end a text, so generation runs to a pinned token
 * count (see --help). Not a test. */
#include "bench_util.h"
#include "bench_weights.h"
#include "mm/media.h"
#include "mm/runtime.h"
#include "mm/transcribe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 64
#define WHISPER_VOCAB 51865
#define WHISPER_CTX 448
#define GPT2_VOCAB 50257
#define GPT2_POS 1024

/* Files a Whisper folder needs beside its weights for transcription. */
static const char *const whisper_files[] = {
    "added_tokens.json", "generation_config.json", "merges.txt",        "normalizer.json",
    "preprocessor_config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.json",
};

typedef struct whisper_arch {
    const char *name;
    int64_t d, heads, layers, ff;
} whisper_arch;

static const whisper_arch whisper_archs[] = {
    {"whisper-tiny", 384, 6, 4, 1536},
    {"whisper-base", 512, 8, 6, 2048},
};

typedef struct opts {
    int threads;
    int runs;                   /* 0: per backend */
    const char *models, *dtypes;
    const char *fixtures, *jfk; /* tokenizer source folders, the recording */
    int jfk_tokens;
    const char *skip; /* parts left out: encoder, beam1, beam5, jfk */
    int steps;        /* decoder steps timed; 0: per backend */
    bool vk_full;     /* Vulkan: also F16 weights and the beam-5 transcription */
} opts;

static bool listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *hit = list; (hit = strstr(hit, name)); hit += len)
        if ((hit == list || hit[-1] == ',') && (hit[len] == '\0' || hit[len] == ','))
            return true;
    return false;
}

/* ---- memory bandwidth -------------------------------------------------------------- */

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t n;
} copy_job;

static void *copy_part(void *p)
{
    copy_job *j = p;
    memcpy(j->dst, j->src, j->n);
    return NULL;
}

/* Bytes read plus bytes written per second by memcpy over 256 MiB split
 * across `threads` threads (STREAM's "copy" count), best of 5. */
static double copy_bandwidth(int threads)
{
    size_t n = (size_t)256 << 20;
    char *a = malloc(n), *b = malloc(n);
    double best = 0;
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memset(a, 1, n);
    memset(b, 2, n);
    pthread_t th[64];
    copy_job jobs[64];
    threads = threads > 64 ? 64 : threads;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        for (int i = 0; i < threads; i++) {
            size_t i0 = n / (size_t)threads * (size_t)i, i1 = i + 1 == threads ? n : n / (size_t)threads * (size_t)(i + 1);
            jobs[i] = (copy_job){b + i0, a + i0, i1 - i0};
            if (i > 0)
                pthread_create(&th[i], NULL, copy_part, &jobs[i]);
        }
        copy_part(&jobs[0]);
        for (int i = 1; i < threads; i++)
            pthread_join(th[i], NULL);
        double bw = 2.0 * (double)n / (bench_now() - t0);
        best = bw > best ? bw : best;
    }
    free(a);
    free(b);
    return best;
}

/* ---- model folders ------------------------------------------------------------------- */

static bool make_whisper(const whisper_arch *a, bool f16, const char *fixtures, const char *dir, bool *tokenizer)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"whisper\", \"d_model\": %lld, \"encoder_attention_heads\": %lld, "
             "\"encoder_layers\": %lld, \"encoder_ffn_dim\": %lld, \"decoder_attention_heads\": %lld, "
             "\"decoder_layers\": %lld, \"decoder_ffn_dim\": %lld, \"num_mel_bins\": 80, \"vocab_size\": %d, "
             "\"max_source_positions\": 1500, \"max_target_positions\": %d, \"activation_function\": \"gelu\", "
             "\"scale_embedding\": false, \"bos_token_id\": 50257, \"eos_token_id\": 50257, \"pad_token_id\": 50257, "
             "\"decoder_start_token_id\": 50258, \"begin_suppress_tokens\": [220, 50257], \"torch_dtype\": \"%s\"}",
             (long long)a->d, (long long)a->heads, (long long)a->layers, (long long)a->ff, (long long)a->heads,
             (long long)a->layers, (long long)a->ff, WHISPER_VOCAB, WHISPER_CTX, f16 ? "float16" : "float32");
    bench_weights w = {.seed = 0x9E3779B97F4A7C15ull, .f16 = f16};
    bool ok = bench_whisper_encoder(&w, a->d, (int)a->layers, a->ff) &&
              bench_whisper_decoder(&w, a->d, (int)a->layers, a->ff, WHISPER_VOCAB, WHISPER_CTX) &&
              bench_weights_end(&w) && bench_write_file(dir, "config.json", cfg, strlen(cfg), "", 0, "", 0) &&
              bench_weights_write(&w, dir);
    free(w.header);
    free(w.data);
    *tokenizer = ok && fixtures;
    for (size_t i = 0; *tokenizer && i < sizeof whisper_files / sizeof *whisper_files; i++)
        *tokenizer = bench_copy_file(fixtures, dir, whisper_files[i]);
    return ok;
}

#define VIT_D 768
#define VIT_LAYERS 12
#define GPT2_D 768
#define GPT2_LAYERS 12

/* nlpconnect/vit-gpt2-image-captioning's shapes. */
static bool make_vit_gpt2(const char *dir)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"vision-encoder-decoder\", \"decoder_start_token_id\": 50256, "
             "\"eos_token_id\": 50256, \"pad_token_id\": 50256, "
             "\"encoder\": {\"model_type\": \"vit\", \"hidden_size\": %d, \"num_attention_heads\": 12, "
             "\"num_hidden_layers\": %d, \"intermediate_size\": %d, \"image_size\": 224, \"patch_size\": 16, "
             "\"num_channels\": 3, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\", \"qkv_bias\": true}, "
             "\"decoder\": {\"model_type\": \"gpt2\", \"n_embd\": %d, \"n_head\": 12, \"n_layer\": %d, "
             "\"n_inner\": null, \"vocab_size\": %d, \"n_positions\": %d, \"add_cross_attention\": true, "
             "\"activation_function\": \"gelu_new\", \"layer_norm_epsilon\": 1e-05, \"bos_token_id\": 50256, "
             "\"eos_token_id\": 50256, \"decoder_start_token_id\": 50256}}",
             VIT_D, VIT_LAYERS, 4 * VIT_D, GPT2_D, GPT2_LAYERS, GPT2_VOCAB, GPT2_POS);
    bench_weights w = {.seed = 0x9E3779B97F4A7C15ull};
    bool ok = bench_vit(&w, "encoder.", VIT_D, VIT_LAYERS, 4 * VIT_D) &&
              bench_gpt2_cross(&w, "decoder.", GPT2_D, GPT2_LAYERS, GPT2_VOCAB, GPT2_POS) && bench_weights_end(&w) &&
              bench_write_file(dir, "config.json", cfg, strlen(cfg), "", 0, "", 0) && bench_weights_write(&w, dir);
    free(w.header);
    free(w.data);
    return ok;
}

/* Weight bytes a decoder step reads: every block's matmul weights, biases
 * and norms but the cross-attention keys/values (read once per source), and
 * the LM head (the whole token table); one position row is negligible. */
static double whisper_step_bytes(const whisper_arch *a, bool f16)
{
    double d = (double)a->d, ff = (double)a->ff;
    double per_layer = 6 * d * d + 2 * d * ff + 12 * d + ff;
    return (f16 ? 2 : 4) * ((double)a->layers * per_layer + (double)WHISPER_VOCAB * d + 2 * d);
}

static double gpt2_step_bytes(void)
{
    double d = GPT2_D;
    double per_layer = 14 * d * d + 17 * d; /* c_attn 3, c_proj 1, q_attn 1, cross c_proj 1, mlp 8 (x d^2) */
    return 4 * (GPT2_LAYERS * per_layer + (double)GPT2_VOCAB * d + 2 * d);
}

/* ---- timing ---------------------------------------------------------------------------- */

static const char *backend_label(mm_runtime *rt)
{
    return mm_backend_get_kind(mm_runtime_backend(rt)) == MM_BACKEND_CPU ? "cpu" : "vulkan";
}

static bool is_cpu(mm_runtime *rt)
{
    return mm_backend_get_kind(mm_runtime_backend(rt)) == MM_BACKEND_CPU;
}

/* Median and best of n timings: the machine is shared, and the best run
 * is the one least disturbed by others. */
typedef struct timing {
    double med, best;
} timing;

static timing timing_of(double *t, int n)
{
    timing r = {.best = t[0]};
    for (int i = 1; i < n; i++)
        r.best = t[i] < r.best ? t[i] : r.best;
    r.med = bench_median(t, n);
    return r;
}

static void row(const char *model, const char *dtype, const char *backend, const char *what, int runs, double value,
                double best, const char *unit, double bound_ms, double step_ms)
{
    printf("%-13s %-4s %-7s %-30s %4d %9.2f %9.2f %-9s", model, dtype, backend, what, runs, value, best, unit);
    if (bound_ms > 0)
        printf(" %8.2f %6.2f", bound_ms, step_ms / bound_ms);
    printf("\n");
}

/* Runs an encoder `runs` times (after a warm-up) on `batch` zero inputs;
 * median seconds, and the states of the last run in *states (caller frees). */
static bool time_encoder(mm_encoder *e, int32_t batch, int runs, timing *med, float **states, mm_shape *shape)
{
    mm_shape in;
    if (mm_encoder_input_shape(e, batch, &in) != MM_OK)
        return false;
    float *input = calloc((size_t)(in.ne[0] * in.ne[1] * in.ne[2] * in.ne[3]), sizeof *input);
    double t[MAX_RUNS];
    bool ok = input != NULL;
    *states = NULL;
    for (int r = -1; ok && r < runs; r++) {
        free(*states);
        *states = NULL;
        double t0 = bench_now();
        ok = mm_encoder_run(e, input, batch, states, shape) == MM_OK;
        if (r >= 0)
            t[r] = bench_now() - t0;
    }
    free(input);
    if (ok)
        *med = timing_of(t, runs);
    return ok;
}

/* Decoder steps of n_src inputs x n_beams sequences: the prompt, then
 * `steps` single-token steps (each after a cache reorder when beams > 1,
 * every beam taking its neighbour's place), median seconds per step. */
static bool time_steps(mm_decoder *d, const float *states, const mm_shape *shape, int32_t n_src, int32_t n_beams,
                       const int32_t *prompt, int32_t n_prompt, int steps, timing *med)
{
    int32_t n_seq = n_src * n_beams, V = mm_decoder_n_vocab(d);
    int32_t *src = malloc((size_t)n_seq * sizeof *src), *toks = malloc((size_t)n_seq * (size_t)n_prompt * sizeof *toks);
    int32_t *pos = calloc((size_t)n_seq, sizeof *pos), *parents = malloc((size_t)n_seq * sizeof *parents);
    float *logits = malloc((size_t)n_seq * (size_t)V * sizeof *logits);
    double *t = malloc((size_t)(steps > 0 ? steps : 1) * sizeof *t);
    bool ok = src && toks && pos && parents && logits && t;
    for (int32_t s = 0; ok && s < n_seq; s++) {
        src[s] = s / n_beams;
        parents[s] = (s / n_beams) * n_beams + (s % n_beams + 1) % n_beams;
        memcpy(toks + s * n_prompt, prompt, (size_t)n_prompt * sizeof *toks);
    }
    ok = ok && mm_decoder_set_source(d, states, shape, src) == MM_OK &&
         mm_decoder_decode(d, n_prompt, toks, pos, false, logits) == MM_OK;
    for (int i = 0; ok && i < steps; i++) {
        for (int32_t s = 0; s < n_seq; s++) {
            toks[s] = 1000 + 7 * i + s; /* any text token */
            pos[s] = n_prompt + i;
        }
        double t0 = bench_now();
        ok = (n_beams == 1 || mm_decoder_reorder(d, parents) == MM_OK) &&
             mm_decoder_decode(d, 1, toks, pos, false, logits) == MM_OK;
        t[i] = bench_now() - t0;
    }
    if (ok)
        *med = timing_of(t, steps);
    free(src);
    free(toks);
    free(pos);
    free(parents);
    free(logits);
    free(t);
    return ok;
}

/* jfk.wav through mm_transcribe (load, resample, log-mel, windows), `runs`
 * times after a warm-up: median seconds, the audio's length and the tokens
 * of the last run. */
static bool time_transcribe(mm_runtime *rt, const char *dir, const char *wav, int32_t beams, int32_t max_tokens,
                            int runs, timing *med, double *audio_s, int32_t *n_tokens)
{
    mm_transcriber *tr = NULL;
    mm_mel *mel = NULL;
    double t[MAX_RUNS];
    bool ok = mm_transcriber_init(rt, dir, &tr) == MM_OK && mm_mel_init(dir, &mel) == MM_OK;
    for (int r = -1; ok && r < runs; r++) {
        double t0 = bench_now();
        mm_audio *audio = NULL;
        float *feats = NULL;
        ok = mm_audio_load(wav, mm_mel_sampling_rate(mel), &audio) == MM_OK;
        int64_t n = ok ? mm_audio_n_samples(audio) : 0, padded = n + mm_mel_n_samples(mel);
        int64_t frames = mm_mel_frames_for(mel, padded);
        ok = ok && (feats = malloc(sizeof *feats * (size_t)mm_mel_n_mels(mel) * (size_t)frames)) &&
             mm_mel_compute_padded(mel, mm_audio_samples(audio), n, padded, feats) == MM_OK;
        mm_transcribe_params p = mm_transcribe_default_params();
        p.language = "en";
        p.timestamps = false;
        p.fallback = false; /* --no-fallback: temperature 0 only */
        p.beam_size = beams;
        p.max_tokens = max_tokens;
        mm_transcript res = {0};
        ok = ok && mm_transcribe(tr, feats, frames, &p, &res) == MM_OK;
        if (r >= 0)
            t[r] = bench_now() - t0;
        if (ok) {
            *audio_s = (double)n / mm_audio_sample_rate(audio);
            *n_tokens = 0;
            for (int32_t i = 0; i < res.n_segments; i++)
                *n_tokens += res.segments[i].n_tokens;
        }
        mm_transcript_clear(&res);
        free(feats);
        mm_audio_free(audio);
    }
    mm_mel_free(mel);
    mm_transcriber_free(tr);
    if (ok)
        *med = timing_of(t, runs);
    return ok;
}

/* ---- the models ------------------------------------------------------------------------- */

static int bench_whisper(mm_runtime **rts, int n_rt, const whisper_arch *a, bool f16, double copy_bw, const opts *o)
{
    const char *dtype = f16 ? "f16" : "f32";
    char dir[] = "/tmp/bench-decode-XXXXXX";
    bool tokenizer = false;
    mm_model *m = NULL;
    if (!mkdtemp(dir) || !make_whisper(a, f16, o->fixtures, dir, &tokenizer) || mm_model_load(dir, &m) != MM_OK) {
        fprintf(stderr, "bench-decode: %s: writing the model to %s failed: %s\n", a->name, dir, mm_error_message());
        bench_remove_dir(dir);
        return 1;
    }
    double bound_ms = whisper_step_bytes(a, f16) / copy_bw * 1e3;
    static const int32_t prompt[] = {50258, 50259, 50359, 50363}; /* sot, en, transcribe, notimestamps */
    int rc = 0;
    for (int b = 0; b < n_rt; b++) {
        mm_runtime *rt = rts[b];
        bool cpu = is_cpu(rt);
        const char *be = backend_label(rt);
        if (!cpu && f16 && !o->vk_full)
            continue;
        int runs = o->runs ? o->runs : cpu ? 5 : 2, steps = o->steps ? o->steps : cpu ? 40 : 8;
        mm_encoder *e = NULL;
        float *states = NULL;
        mm_shape shape;
        timing enc = {0}, step1 = {0}, step5 = {0};
        bool skip_enc = listed(o->skip, "encoder");
        bool ok = mm_encoder_init(rt, m, &e) == MM_OK && time_encoder(e, 1, skip_enc ? 1 : runs, &enc, &states, &shape);
        mm_encoder_free(e);
        if (ok && !skip_enc)
            row(a->name, dtype, be, "encoder (30 s window)", runs, enc.med * 1e3, enc.best * 1e3, "ms", 0, 0);
        for (int32_t beams = 1; ok && beams <= 5; beams += 4) {
            mm_decoder *d = NULL;
            timing *med = beams == 1 ? &step1 : &step5;
            if (listed(o->skip, beams == 1 ? "beam1" : "beam5"))
                continue;
            ok = mm_decoder_init(rt, m, &(mm_decoder_params){.n_seq = beams}, &d) == MM_OK &&
                 time_steps(d, states, &shape, 1, beams, prompt, 4, steps, med);
            mm_decoder_free(d);
            char what[64];
            snprintf(what, sizeof what, "decoder step, beam %d", beams);
            if (ok)
                row(a->name, dtype, be, what, steps, med->med * 1e3, med->best * 1e3, "ms/token", bound_ms, med->med * 1e3);
        }
        free(states);
        if (ok && tokenizer && o->jfk && !listed(o->skip, "jfk")) {
            for (int32_t beams = 1; ok && beams <= (cpu || o->vk_full ? 5 : 1); beams += 4) {
                timing med = {0};
                double audio_s = 0;
                int32_t n_tok = 0;
                int tr_runs = cpu ? (runs < 3 ? runs : 3) : 1;
                ok = time_transcribe(rt, dir, o->jfk, beams, o->jfk_tokens, tr_runs, &med, &audio_s, &n_tok);
                char what[64];
                snprintf(what, sizeof what, "jfk.wav, beam %d, %d tokens", beams, n_tok);
                if (ok)
                    row(a->name, dtype, be, what, tr_runs, med.med, med.best, "s", 0, 0);
                if (ok)
                    row(a->name, dtype, be, "  real-time factor", tr_runs, med.med / audio_s, med.best / audio_s, "x", 0, 0);
            }
        }
        if (!ok) {
            fprintf(stderr, "bench-decode: %s %s on %s: %s\n", a->name, dtype, be, mm_error_message());
            rc = 1;
        }
    }
    mm_model_free(m);
    bench_remove_dir(dir);
    return rc;
}

static int bench_caption(mm_runtime **rts, int n_rt, double copy_bw, const opts *o)
{
    char dir[] = "/tmp/bench-decode-XXXXXX";
    mm_model *m = NULL;
    if (!mkdtemp(dir) || !make_vit_gpt2(dir) || mm_model_load(dir, &m) != MM_OK) {
        fprintf(stderr, "bench-decode: vit-gpt2: writing the model to %s failed: %s\n", dir, mm_error_message());
        bench_remove_dir(dir);
        return 1;
    }
    double bound_ms = gpt2_step_bytes() / copy_bw * 1e3;
    static const int32_t start = 50256;
    int rc = 0;
    for (int b = 0; b < n_rt; b++) {
        mm_runtime *rt = rts[b];
        bool cpu = is_cpu(rt);
        const char *be = backend_label(rt);
        int runs = o->runs ? o->runs : cpu ? 3 : 1, steps = o->steps ? o->steps : cpu ? 16 : 4;
        mm_encoder *e = NULL;
        bool ok = mm_encoder_init(rt, m, &e) == MM_OK;
        float *states[2] = {NULL, NULL};
        mm_shape shapes[2];
        for (int k = 0; ok && k < 2; k++) {
            int32_t batch = k ? 8 : 1;
            timing med = {0};
            ok = time_encoder(e, batch, k ? (runs + 1) / 2 : runs, &med, &states[k], &shapes[k]);
            char what[64];
            snprintf(what, sizeof what, "encoder, batch %d", batch);
            if (ok)
                row("vit-gpt2", "f32", be, what, k ? (runs + 1) / 2 : runs, med.med * 1e3 / batch, med.best * 1e3 / batch, "ms/image", 0, 0);
        }
        mm_encoder_free(e);
        for (int k = 0; ok && k < 4; k++) {
            int32_t batch = k < 2 ? 1 : 8, beams = k % 2 ? 3 : 1;
            mm_decoder *d = NULL;
            timing med = {0};
            ok = mm_decoder_init(rt, m, &(mm_decoder_params){.n_seq = batch * beams, .n_ctx = 64}, &d) == MM_OK &&
                 time_steps(d, states[batch > 1], &shapes[batch > 1], batch, beams, &start, 1, steps, &med);
            mm_decoder_free(d);
            char what[64];
            snprintf(what, sizeof what, "decoder, batch %d, beam %d", batch, beams);
            if (ok) {
                row("vit-gpt2", "f32", be, what, steps, batch / med.med, batch / med.best, "tokens/s", 0, 0);
                row("vit-gpt2", "f32", be, "  step", steps, med.med * 1e3, med.best * 1e3, "ms", bound_ms, med.med * 1e3);
            }
        }
        free(states[0]);
        free(states[1]);
        if (!ok) {
            fprintf(stderr, "bench-decode: vit-gpt2 on %s: %s\n", be, mm_error_message());
            rc = 1;
        }
    }
    mm_model_free(m);
    bench_remove_dir(dir);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-decode [--threads N] [--runs N] [--steps N] [--backend cpu|vulkan|all] [--models LIST]\n"
            "                    [--dtypes LIST] [--skip LIST] [--vulkan-full] [--fixtures DIR] [--jfk WAV] [--jfk-tokens N]\n"
            "\n"
            "Text decoders at checkpoint sizes (random weights, temporary folders) on each\n"
            "backend that starts. Whisper: encoder ms, ms per decoder step at beam 1 and 5\n"
            "(beam 5 reorders the caches before each step) and jfk.wav transcribed through\n"
            "mm_transcribe (--language en, no timestamps, no fallback; random weights never\n"
            "end a text, so every window runs to --jfk-tokens), with the memory-bandwidth\n"
            "bound of a step: weight bytes read per step / memcpy bandwidth measured in the\n"
            "same run (bytes read + written per second). vit-gpt2: encoder ms per image at\n"
            "batch 1 and 8, decoder tokens/s (generated tokens of all images; beams are\n"
            "search work) at batch 1 and 8, beam 1 and 3, 16 steps.\n"
            "\n"
            "Options:\n"
            "  --threads N     CPU threads (default: all cores)\n"
            "  --runs N        timed encoder runs (Whisper: 5 on cpu, 2 on Vulkan; vit-gpt2: 3\n"
            "                  and 1, half as many at batch 8; transcriptions: at most 3)\n"
            "  --steps N       decoder steps timed (default: Whisper 40 on cpu, 8 on Vulkan;\n"
            "                  vit-gpt2 16 and 4; at most 400)\n"
            "  --backend B     cpu, vulkan or all (default all that start)\n"
            "  --models L      from whisper-tiny, whisper-base, vit-gpt2 (default all)\n"
            "  --dtypes L      Whisper weights: f32, f16 (default f32,f16)\n"
            "  --skip L        Whisper parts left out: encoder, beam1, beam5, jfk\n"
            "  --vulkan-full   on Vulkan also F16 weights and the beam-5 transcription\n"
            "                  (left out by default: lavapipe runs 5-10x slower than cpu)\n"
            "  --fixtures DIR  a Whisper folder whose tokenizer and preprocessor files are\n"
            "                  copied (default ../shared/fixtures/whisper-tiny-random beside\n"
            "                  the source); without them the transcription is skipped\n"
            "  --jfk WAV       the recording (default ../shared/data/whisper.cpp/jfk.wav)\n"
            "  --jfk-tokens N  tokens per window (default 28: what a real model emits for\n"
            "                  jfk.wav: its transcript's 25 text tokens, 2 timestamps, the end)\n");
}

int main(int argc, char **argv)
{
    blas_reexec(argv); /* the OpenBLAS kernels mmrun runs */
    opts o = {.models = "whisper-tiny,whisper-base,vit-gpt2", .dtypes = "f32,f16",
              .fixtures = MM_BENCH_SHARED_DIR "/fixtures/whisper-tiny-random",
              .jfk = MM_BENCH_SHARED_DIR "/data/whisper.cpp/jfk.wav", .jfk_tokens = 28, .skip = ""};
    bool cpu = true, vulkan = true;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--threads") && v && (o.threads = atoi(v)) > 0) {
            i++;
        } else if (!strcmp(a, "--runs") && v && (o.runs = atoi(v)) > 0 && o.runs <= MAX_RUNS) {
            i++;
        } else if (!strcmp(a, "--steps") && v && (o.steps = atoi(v)) > 0 && o.steps <= 400) {
            i++;
        } else if (!strcmp(a, "--jfk-tokens") && v && (o.jfk_tokens = atoi(v)) > 0) {
            i++;
        } else if (!strcmp(a, "--backend") && v && (!strcmp(v, "cpu") || !strcmp(v, "vulkan") || !strcmp(v, "all"))) {
            cpu = strcmp(v, "vulkan") != 0;
            vulkan = strcmp(v, "cpu") != 0;
            i++;
        } else if (!strcmp(a, "--models") && v) {
            o.models = argv[++i];
        } else if (!strcmp(a, "--vulkan-full")) {
            o.vk_full = true;
        } else if (!strcmp(a, "--skip") && v) {
            o.skip = argv[++i];
        } else if (!strcmp(a, "--dtypes") && v) {
            o.dtypes = argv[++i];
        } else if (!strcmp(a, "--fixtures") && v) {
            o.fixtures = argv[++i];
        } else if (!strcmp(a, "--jfk") && v) {
            o.jfk = argv[++i];
        } else {
            fprintf(stderr, "bench-decode: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (int)n : 1;
    }
    char probe[512];
    snprintf(probe, sizeof probe, "%s/vocab.json", o.fixtures);
    if (access(probe, R_OK) != 0) {
        printf("# no tokenizer files in %s: the jfk.wav transcription is skipped\n", o.fixtures);
        o.fixtures = NULL;
    }
    if (access(o.jfk, R_OK) != 0) {
        printf("# %s not found: the transcription is skipped\n", o.jfk);
        o.jfk = NULL;
    }

    mm_runtime *rts[2];
    int n_rt = 0;
    for (int k = 0; k < 2; k++) {
        if (!(k == 0 ? cpu : vulkan))
            continue;
        mm_runtime_params p = mm_runtime_default_params();
        p.backend.kind = k == 0 ? MM_BACKEND_CPU : MM_BACKEND_VULKAN;
        p.backend.n_threads = o.threads;
        p.plugin_path = MM_BENCH_PLUGIN_DIR;
        if (mm_runtime_init(&p, &rts[n_rt]) == MM_OK) {
            printf("# %s: %s\n", k == 0 ? "cpu" : "vulkan", mm_backend_name(mm_runtime_backend(rts[n_rt])));
            n_rt++;
        } else {
            printf("# %s backend unavailable: %s\n", k == 0 ? "cpu" : "vulkan", mm_error_message());
        }
    }
    double bw = copy_bandwidth(o.threads);
    printf("# %d thread(s); memcpy bandwidth %.1f GB/s (read + written, 256 MiB, %d thread(s))\n", o.threads, bw * 1e-9,
           o.threads);
    printf("# bound: weight bytes a decoder step reads / that bandwidth; x bound: the median step over it\n");
    printf("%-13s %-4s %-7s %-30s %4s %9s %9s %-9s %8s %6s\n", "model", "type", "backend", "what", "runs", "median", "best", "unit",
           "bound ms", "x bound");
    int rc = 0;
    for (size_t i = 0; i < sizeof whisper_archs / sizeof *whisper_archs; i++)
        for (int f16 = 0; f16 < 2; f16++)
            if (listed(o.models, whisper_archs[i].name) && listed(o.dtypes, f16 ? "f16" : "f32"))
                rc |= bench_whisper(rts, n_rt, &whisper_archs[i], f16, bw, &o);
    if (listed(o.models, "vit-gpt2"))
        rc |= bench_caption(rts, n_rt, bw, &o);
    for (int b = 0; b < n_rt; b++)
        mm_runtime_free(rts[b]);
    return rc;
}
