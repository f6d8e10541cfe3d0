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

#ifdef __cplusplus
}
#endif
#endif
