/* Building a plugin's graphs, shared by the encoder, decoder and embedder
 * objects of the runtime. */
#ifndef MM_PLUGIN_GRAPH_H
#define MM_PLUGIN_GRAPH_H

#include "mm/plugin.h"

/* Appends a part (a plugin's builder, called through a small adapter) to g. */
typedef mm_status (*mm_plugin_graph_fn)(void *ctx, mm_graph *g);

/* A fresh graph with `build` appended and its status checked: *out on
 * success, nothing on failure (the builder's message, which names the weight
 * or config key at fault). Run right after a plugin's load() without input
 * data, this is the dry build that validates a checkpoint: its graph is the
 * one the model's weights are placed on the backend from, so callers keep
 * it. */
mm_status mm_plugin_graph_build(mm_plugin_graph_fn build, void *ctx, mm_graph **out);

/* An encoder's graph for `batch` items: an F32 input of input_shape(batch)
 * (data set before each compute) and the hidden states marked as output. */
typedef struct mm_encoder_graph {
    mm_graph *graph;
    mm_tensor *input, *output;
} mm_encoder_graph;
mm_status mm_encoder_graph_build(const mm_encoder_ops *ops, const void *state, int32_t batch, mm_encoder_graph *out);

#endif
