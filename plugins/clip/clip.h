/* CLIP (HF CLIPModel) inside the clip plugin: what clip.c reads from the
 * config and what the tower builders (clip_vision.c, clip_text.c) share. */
#ifndef MM_PLUGIN_CLIP_H
#define MM_PLUGIN_CLIP_H

#include "mm/nn.h"
#include "mm/plugin.h"

/* One tower's transformer: the config keys under <prefix>{vision,text}_config.
 * and the weights under <prefix>{vision,text}_model. */
typedef struct clip_tower {
    const char *name;  /* "vision" or "text", for messages                */
    mm_component c;    /* the tower's prefixes (strings in clip_model)    */
    int64_t n_embd;    /* hidden_size                                      */
    int64_t n_head;    /* num_attention_heads                              */
    int64_t n_layer;   /* num_hidden_layers                                */
    int64_t n_ff;      /* intermediate_size                                */
    float eps;         /* layer_norm_eps                                   */
    mm_gelu_kind act;  /* hidden_act                                       */
} clip_tower;

typedef struct clip_model {
    mm_component c; /* the whole folder: projections and logit_scale sit at the top */
    clip_tower vision, text;
    int64_t image;   /* vision_config.image_size                          */
    int64_t patch;   /* vision_config.patch_size                          */
    int64_t n_chan;  /* vision_config.num_channels                        */
    int64_t n_vocab; /* text_config.vocab_size                            */
    int64_t n_ctx;   /* text_config.max_position_embeddings               */
    int64_t eos;     /* text_config.eos_token_id                          */
    int64_t n_proj;  /* projection_dim (top level: what CLIPModel uses)   */
    float logit_scale; /* exp(logit_scale weight)                         */
    char prefixes[4][256]; /* backing store of the towers' prefixes       */
} clip_model;

/* The pre-LN encoder layers of a tower (both towers name them alike):
 * x {D,T,B}; causal and mask as the text tower needs them. */
mm_status clip_build_layers(const clip_tower *t, mm_graph *g, mm_tensor **x, bool causal, mm_tensor *mask);

mm_status clip_build_image(const void *state, mm_graph *g, mm_tensor *pixels, mm_tensor **embeds, mm_tensor **hidden);
mm_status clip_text_pool(const void *state, const int32_t *ids, int32_t n_tokens, int32_t batch, const int32_t *len,
                         int32_t *pos);
mm_status clip_build_text(const void *state, mm_graph *g, const mm_embedder_text_inputs *in, mm_tensor **embeds,
                          mm_tensor **hidden);

#endif
