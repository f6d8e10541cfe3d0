/* mmrun runtime: a backend plus the registry of plugins found on disk. */
#ifndef MM_RUNTIME_H
#define MM_RUNTIME_H

#include "mm/mm.h"
#include "mm/tensor.h"
#include "mm/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_runtime mm_runtime;
typedef struct mm_encoder mm_encoder;

typedef struct mm_runtime_params {
    mm_backend_params backend;
    /* Extra plugin directories (':'-separated), searched before the default
     * ones: the executable's directory and its ../lib/mmrun/plugins (or
     * plugins/ in a build tree), the install libdir, then $MM_PLUGIN_PATH. */
    const char *plugin_path;
} mm_runtime_params;

MM_API mm_runtime_params mm_runtime_default_params(void);
MM_API mm_status mm_runtime_init(const mm_runtime_params *p, mm_runtime **out);
MM_API void mm_runtime_free(mm_runtime *rt);
MM_API mm_backend *mm_runtime_backend(mm_runtime *rt);

/* Plugins found (loaded and ABI-checked). Broken ones are listed with an
 * error and never used. */
typedef struct mm_plugin_info {
    const char *path;
    const mm_plugin *plugin; /* NULL when broken                          */
    const char *error;       /* why it was refused, or NULL                 */
} mm_plugin_info;
MM_API int32_t mm_runtime_plugin_count(const mm_runtime *rt);
MM_API const mm_plugin_info *mm_runtime_plugin_at(const mm_runtime *rt, int32_t i);
/* The directories searched for plugins, ':'-separated, in search order. */
MM_API const char *mm_runtime_plugin_search_path(const mm_runtime *rt);
/* The plugin serving `model_type` with `role`; an error naming the type and
 * the plugins found when there is none. */
MM_API mm_status mm_runtime_find_plugin(const mm_runtime *rt, const char *model_type, uint32_t role,
                                        const mm_plugin **out);
/* Loads a single plugin file directly (tests, tools). */
MM_API mm_status mm_plugin_open(const char *path, const mm_plugin **out, void **handle);
MM_API void mm_plugin_close(void *handle);

/* ---- routing: a model folder -> its parts -------------------------------
 * One table in the runtime, read by every lookup (the encoder below,
 * `mmrun info`), keyed by config.json's model_type:
 *   whisper                 encoder (whisper, "", "model.encoder.")
 *                           decoder (whisper, "", "model.decoder.")
 *   vision-encoder-decoder  encoder (encoder.model_type, "encoder.", "encoder.")
 *                           decoder (decoder.model_type, "decoder.", "decoder.")
 *   clip                    embedder (clip, "", ""): one part, both towers,
 *                           whose plugin reads vision_config/text_config
 *   any other type          encoder (the type itself, "", ""): a bare encoder
 * A part's strings live as long as the model. */
#define MM_ROUTE_MAX_PARTS 4
typedef struct mm_model_part {
    uint32_t role;             /* one mm_plugin_role bit                     */
    const char *model_type;    /* the model_type a plugin must run           */
    const char *config_prefix; /* prefix of its config keys                  */
    const char *weight_prefix; /* prefix of its weight names                 */
} mm_model_part;
typedef struct mm_route {
    const char *family; /* the table row: "whisper", ...; NULL when the
                         * folder's model_type is not listed (bare encoder) */
    int32_t n_parts;
    mm_model_part parts[MM_ROUTE_MAX_PARTS];
} mm_route;
/* The parts of a model folder; fails when a part's model_type key (such as
 * encoder.model_type) is missing. */
MM_API mm_status mm_model_route(const mm_model *m, mm_route *out);
/* The part playing `role`, or NULL. */
MM_API const mm_model_part *mm_route_part(const mm_route *r, uint32_t role);
/* "encoder", "decoder", "embedder" for one role bit. */
MM_API const char *mm_plugin_role_name(uint32_t role);

/* The encoder of a model folder (which must outlive it): its encoder part
 * (see the routing table) run by the plugin serving that part's model_type.
 * The plugin loads the config, then the runtime builds the graph once, so a
 * config or checkpoint that does not fit fails here, naming the key or
 * weight. */
MM_API mm_status mm_encoder_init(mm_runtime *rt, const mm_model *m, mm_encoder **out);
MM_API void mm_encoder_free(mm_encoder *e);
MM_API const mm_plugin *mm_encoder_plugin(const mm_encoder *e);
MM_API mm_status mm_encoder_input_shape(const mm_encoder *e, int32_t batch, mm_shape *out);
/* Runs the encoder on `input` (F32, input_shape(batch)); *out receives a
 * malloc'd {D,T,B} F32 array (caller frees) and *shape its shape. */
MM_API mm_status mm_encoder_run(mm_encoder *e, const float *input, int32_t batch, float **out, mm_shape *shape);

/* ---- decoders ----------------------------------------------------------------
 * The text decoder of a model folder (Whisper's, vision-encoder-decoder's
 * GPT-2), run n_seq sequences at a time (images x beams) through the
 * plugin's graphs: the cross-attention K/V are computed once per source
 * into persistent buffers, the self-attention KV caches live on the
 * backend, and each step replays a graph built once (positions and masks
 * are inputs), so a token costs one compute and no graph building.
 *
 *     mm_decoder_init(rt, model, &(mm_decoder_params){.n_seq = 3}, &d);
 *     mm_decoder_set_source(d, states, &shape, NULL);   // encoder output
 *     mm_decoder_decode(d, 4, prompt_ids, pos, false, logits);
 *     ... mm_decoder_reorder(d, parents) after a beam search step ... */
typedef struct mm_decoder mm_decoder;

typedef struct mm_decoder_params {
    int32_t n_seq; /* sequences decoded together (>= 1)                      */
    int32_t n_ctx; /* positions kept per sequence; 0: the model's maximum    */
} mm_decoder_params;

MM_API mm_status mm_decoder_init(mm_runtime *rt, const mm_model *m, const mm_decoder_params *p, mm_decoder **out);
MM_API void mm_decoder_free(mm_decoder *d);
MM_API const mm_plugin *mm_decoder_plugin(const mm_decoder *d);
MM_API int32_t mm_decoder_n_vocab(const mm_decoder *d);
MM_API int32_t mm_decoder_n_ctx(const mm_decoder *d); /* positions per sequence */
MM_API int32_t mm_decoder_n_seq(const mm_decoder *d);
/* Encoder states {D_enc, T_src, n_src} (F32, host, as mm_encoder_run gives
 * them) become every sequence's cross-attention source: sequence s reads
 * source src_of_seq[s] (NULL: s % n_src). Computes the cross K/V. When the
 * sequences come in equal runs per source (s / (n_seq / n_src): the beams
 * of each input side by side) they share one copy per source, which each
 * step reads once for the run; otherwise each sequence gets its own. */
MM_API mm_status mm_decoder_set_source(mm_decoder *d, const float *states, const mm_shape *shape,
                                       const int32_t *src_of_seq);
/* One step: sequence s takes tokens[s * n_tokens + j] at positions
 * pos[s] + j (j < n_tokens; the tokens before pos[s] are in its cache) and
 * logits receives F32 [n_seq][n_tokens][n_vocab] when all_logits, else the
 * last token's [n_seq][n_vocab]. */
MM_API mm_status mm_decoder_decode(mm_decoder *d, int32_t n_tokens, const int32_t *tokens, const int32_t *pos,
                                 bool all_logits, float *logits);
/* After a beam search step: sequence s continues what sequence parents[s]
 * held (the caches are reordered on the backend). */
MM_API mm_status mm_decoder_reorder(mm_decoder *d, const int32_t *parents);

/* ---- embedders ----------------------------------------------------------------
 * The joint image/text embedder of a model folder (CLIP): its embedder part
 * run by the plugin serving its model_type. Each tower's graph is built once
 * per shape (images: the batch; texts: the batch and the padded length) and
 * replayed, a few shapes kept; many images or texts go through a tower as
 * one batch. The weights are uploaded at init.
 *
 *     mm_embedder_init(rt, model, &e);
 *     mm_embedder_image(e, pixels, 3, img);            // img [3][E]
 *     mm_embedder_text(e, ids, 7, 5, lengths, txt);    // ids [5][7], txt [5][E]
 *     mm_embedder_logits(e, img, 3, txt, 5, logits);   // logits [3][5]
 *
 * Embeddings come out as the model projects them (unnormalised, like
 * get_image_features); mm_embedder_normalize makes them unit length. */
typedef struct mm_embedder mm_embedder;

MM_API mm_status mm_embedder_init(mm_runtime *rt, const mm_model *m, mm_embedder **out);
MM_API void mm_embedder_free(mm_embedder *e);
MM_API const mm_plugin *mm_embedder_plugin(const mm_embedder *e);
MM_API int32_t mm_embedder_n_embd(const mm_embedder *e);  /* E: values per embedding      */
MM_API int32_t mm_embedder_n_ctx(const mm_embedder *e);   /* most tokens per text         */
MM_API int32_t mm_embedder_n_vocab(const mm_embedder *e); /* token ids are below this     */
MM_API float mm_embedder_logit_scale(const mm_embedder *e); /* exp(logit_scale)          */
/* The pixel values of `batch` images: {S, S, C, B} for CLIP. */
MM_API mm_status mm_embedder_image_shape(const mm_embedder *e, int32_t batch, mm_shape *out);
/* pixels: F32 of image_shape(batch) (as the image front end gives them,
 * images one after another); out: [batch][E]. */
MM_API mm_status mm_embedder_image(mm_embedder *e, const float *pixels, int32_t batch, float *out);
/* ids [batch][n_tokens], text b's first len[b] ids real and the rest
 * padding (len NULL: no padding); n_tokens <= n_ctx, every id < n_vocab.
 * out: [batch][E]. */
MM_API mm_status mm_embedder_text(mm_embedder *e, const int32_t *ids, int32_t n_tokens, int32_t batch,
                                  const int32_t *len, float *out);
/* Each of the `count` vectors of x [count][n_embd] scaled to unit length
 * (an all-zero vector stays zero). */
MM_API void mm_embedder_normalize(float *x, int32_t count, int32_t n_embd);
/* CLIP's logits_per_image: logits[i][t] = logit_scale * cos(img[i], txt[t])
 * for unnormalised or normalised embeddings; softmax over t gives the
 * zero-shot probabilities. */
MM_API mm_status mm_embedder_logits(const mm_embedder *e, const float *img, int32_t n_img, const float *txt,
                                    int32_t n_txt, float *logits);

#ifdef __cplusplus
}
#endif
#endif
