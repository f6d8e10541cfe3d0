/* The routing table: which parts a model folder is made of, by its
 * config.json "model_type". Everything that needs a folder's parts (the
 * encoder lookup, the decoder and embedder objects, `mmrun info`) reads this
 * table, so adding a family is one row.
 *
 * CLIP is one embedder part, not a vision and a text part: its towers only
 * mean something together (their projections land in one space and share
 * logit_scale, all three stored at the top level beside vision_model. and
 * text_model.), so the plugin takes the whole folder and extends the
 * prefixes itself (vision_config./vision_model., text_config./text_model.). */
#include "routing.h"

#include <stdio.h>
#include <string.h>

typedef struct route_part_row {
    uint32_t role;             /* one mm_plugin_role bit; 0 ends the row     */
    const char *type_key;      /* config key naming the part's model_type,
                                * NULL: the folder's own model_type         */
    const char *config_prefix;
    const char *weight_prefix;
} route_part_row;

typedef struct route_row {
    const char *model_type; /* NULL: every type not listed                 */
    route_part_row parts[MM_ROUTE_MAX_PARTS];
} route_row;

static const route_row routes[] = {
    /* WhisperForConditionalGeneration; the decoder's output projection is
     * tied to its token embedding (the decoder plugin's business). */
    {"whisper",
     {{MM_ROLE_ENCODER, NULL, "", "model.encoder."}, {MM_ROLE_DECODER, NULL, "", "model.decoder."}}},
    {"vision-encoder-decoder",
     {{MM_ROLE_ENCODER, "encoder.model_type", "encoder.", "encoder."},
      {MM_ROLE_DECODER, "decoder.model_type", "decoder.", "decoder."}}},
    {"clip", {{MM_ROLE_EMBEDDER, NULL, "", ""}}},
    /* Any other type is taken as a bare encoder saved on its own (a ViTModel
     * folder): its lookup then names the type and the plugins found. */
    {NULL, {{MM_ROLE_ENCODER, NULL, "", ""}}},
};

const char *mm_plugin_role_name(uint32_t role)
{
    switch (role) {
    case MM_ROLE_ENCODER: return "encoder";
    case MM_ROLE_DECODER: return "decoder";
    case MM_ROLE_EMBEDDER: return "embedder";
    }
    return "part";
}

mm_status mm_model_route(const mm_model *m, mm_route *out)
{
    memset(out, 0, sizeof *out);
    const char *type = mm_model_type(m);
    const route_row *row = routes;
    while (row->model_type && strcmp(row->model_type, type) != 0)
        row++;
    out->family = row->model_type;
    for (int i = 0; i < MM_ROUTE_MAX_PARTS && row->parts[i].role; i++) {
        const route_part_row *r = &row->parts[i];
        const char *part_type = type;
        if (r->type_key) {
            mm_status s = mm_config_string(m, r->type_key, &part_type);
            if (s != MM_OK)
                return mm_error_wrap(s, "%s: %s %s", mm_model_dir(m), type, mm_plugin_role_name(r->role));
        }
        out->parts[out->n_parts++] = (mm_model_part){
            .role = r->role,
            .model_type = part_type,
            .config_prefix = r->config_prefix,
            .weight_prefix = r->weight_prefix,
        };
    }
    return MM_OK;
}

const mm_model_part *mm_route_part(const mm_route *r, uint32_t role)
{
    for (int32_t i = 0; i < r->n_parts; i++)
        if (r->parts[i].role == role)
            return &r->parts[i];
    return NULL;
}

mm_status mm_route_component(const mm_model *m, uint32_t role, mm_model_part *part, mm_component *c)
{
    mm_route route;
    mm_status s = mm_model_route(m, &route);
    if (s != MM_OK)
        return s;
    const mm_model_part *p = mm_route_part(&route, role);
    if (!p) {
        char parts[256] = "";
        size_t used = 0;
        for (int32_t i = 0; i < route.n_parts && used < sizeof parts; i++)
            used += (size_t)snprintf(parts + used, sizeof parts - used, "%s%s (%s)", i ? ", " : "",
                                     mm_plugin_role_name(route.parts[i].role), route.parts[i].model_type);
        return mm_error_set(MM_ERR_UNSUPPORTED, "no plugin runs model_type '%s' as %s: a %s folder has no %s; its parts: %s",
                            mm_model_type(m), mm_plugin_role_name(role), mm_model_type(m), mm_plugin_role_name(role),
                            parts);
    }
    *part = *p;
    *c = (mm_component){.model = m, .config_prefix = p->config_prefix, .weight_prefix = p->weight_prefix};
    return MM_OK;
}
