/* Routes a model folder to the plugin that encodes its media, and runs it. */
#include "runtime_impl.h"

#include <stdlib.h>
#include <string.h>

struct mm_encoder {
    mm_runtime *rt;
    const mm_plugin *plugin;
    void *state;
    mm_component component;
    mm_weights *weights; /* the model's weights on the runtime's backend */
    char model_type[64];
    /* The last graph built, reused while the batch size stays the same so
     * the backend keeps its buffers. */
    mm_graph *graph;
    mm_tensor *input, *output;
    int32_t graph_batch;
};

/* Where the encoder of a model folder lives: its model_type, config section
 * and weight prefix. */
static mm_status locate_encoder(const mm_model *m, mm_encoder *e)
{
    const char *type = mm_model_type(m);
    e->component.model = m;
    e->component.config_prefix = "";
    e->component.weight_prefix = "";
    if (strcmp(type, "whisper") == 0) {
        e->component.weight_prefix = "model.encoder.";
    } else if (strcmp(type, "vision-encoder-decoder") == 0) {
        mm_status s = mm_config_string(m, "encoder.model_type", &type);
        if (s != MM_OK)
            return mm_error_wrap(s, "vision-encoder-decoder");
        e->component.config_prefix = "encoder.";
        e->component.weight_prefix = "encoder.";
    }
    if (strlen(type) >= sizeof e->model_type)
        return mm_error_set(MM_ERR_FORMAT, "model_type '%.40s...' is too long", type);
    strcpy(e->model_type, type);
    return MM_OK;
}

static mm_status build_graph(mm_encoder *e, int32_t batch);

mm_status mm_encoder_init(mm_runtime *rt, const mm_model *m, mm_encoder **out)
{
    *out = NULL;
    mm_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ERR_NOMEM, "encoder: out of memory");
    e->rt = rt;
    mm_status s = locate_encoder(m, e);
    if (s == MM_OK)
        s = mm_runtime_find_plugin(rt, e->model_type, MM_ROLE_ENCODER, &e->plugin);
    if (s == MM_OK) {
        s = e->plugin->encoder->load(&e->component, &e->state);
        if (s != MM_OK)
            mm_error_wrap(s, "%s: %s encoder (plugin %s)", mm_model_dir(m), e->model_type, e->plugin->name);
    }
    /* Uploading the weights is part of loading: a model too big for the
     * device fails here, not at the first input. */
    if (s == MM_OK)
        s = mm_weights_init(mm_runtime_backend(rt), m, &e->weights);
    if (s == MM_OK)
        s = build_graph(e, 1);
    if (s == MM_OK)
        s = mm_weights_load(e->weights, e->graph);
    if (s != MM_OK) {
        mm_encoder_free(e);
        return s;
    }
    *out = e;
    return MM_OK;
}

void mm_encoder_free(mm_encoder *e)
{
    if (!e)
        return;
    if (e->state)
        e->plugin->encoder->free(e->state);
    mm_graph_free(e->graph);
    mm_weights_free(e->weights);
    free(e);
}

const mm_plugin *mm_encoder_plugin(const mm_encoder *e)
{
    return e->plugin;
}

mm_status mm_encoder_input_shape(const mm_encoder *e, int32_t batch, mm_shape *out)
{
    if (batch < 1)
        return mm_error_set(MM_ERR_INVALID, "encoder: batch of %d", batch);
    return e->plugin->encoder->input_shape(e->state, batch, out);
}

static mm_status build_graph(mm_encoder *e, int32_t batch)
{
    mm_shape shape;
    mm_status s = mm_encoder_input_shape(e, batch, &shape);
    if (s != MM_OK)
        return s;
    mm_graph_free(e->graph);
    e->graph = mm_graph_init();
    e->graph_batch = 0;
    if (!e->graph)
        return MM_ERR_NOMEM;
    e->input = mm_graph_input(e->graph, MM_DTYPE_F32, shape.n_dims, shape.ne, NULL);
    mm_tensor_set_name(e->input, "encoder input");
    s = mm_graph_status(e->graph);
    if (s == MM_OK)
        s = e->plugin->encoder->build(e->state, e->graph, e->input, &e->output);
    mm_graph_set_weights(e->graph, e->weights);
    if (s == MM_OK)
        mm_graph_output(e->graph, e->output);
    if (s == MM_OK)
        s = mm_graph_status(e->graph);
    if (s != MM_OK)
        return mm_error_wrap(s, "%s encoder graph", e->model_type);
    e->graph_batch = batch;
    return MM_OK;
}

mm_status mm_encoder_run(mm_encoder *e, const float *input, int32_t batch, float **out, mm_shape *shape)
{
    *out = NULL;
    mm_status s = MM_OK;
    if (!e->graph || e->graph_batch != batch)
        s = build_graph(e, batch);
    if (s != MM_OK)
        return s;
    mm_tensor_set_data(e->input, input);
    s = mm_backend_compute(mm_runtime_backend(e->rt), e->graph);
    if (s != MM_OK)
        return s;
    size_t bytes = (size_t)mm_tensor_nelements(e->output) * sizeof(float);
    float *result = malloc(bytes);
    if (!result)
        return mm_error_set(MM_ERR_NOMEM, "encoder: cannot allocate %zu bytes of output", bytes);
    s = mm_tensor_read(e->output, result, bytes);
    if (s != MM_OK) {
        free(result);
        return s;
    }
    shape->n_dims = mm_tensor_n_dims(e->output);
    for (int i = 0; i < MM_MAX_DIMS; i++)
        shape->ne[i] = mm_tensor_ne(e->output, i);
    *out = result;
    return MM_OK;
}
