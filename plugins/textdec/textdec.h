/* The textdec plugin's shared part: one decoder skeleton (embeddings, pre-LN
 * blocks with a self-attention cache and cross-attention, final norm, tied
 * LM head) that each architecture fills with its weights. The architectures
 * (whisper_dec.c, gpt2_dec.c) only read their config and name their
 * weights; the graphs are built here, so the two flavours cannot drift. */
#ifndef MM_TEXTDEC_H
#define MM_TEXTDEC_H

#include "mm/nn.h"
#include "mm/plugin.h"

typedef struct textdec_hparams {
    int64_t n_vocab; /* token embedding rows = logits per token        */
    int64_t n_ctx;   /* learned positions                             */
    int64_t n_embd;  /* width of the decoder                          */
    int64_t n_head;
    int64_t n_layer;
    int64_t n_ff;    /* feed-forward width                            */
    int64_t n_enc;   /* width of the encoder states it reads          */
    float eps;       /* layer norms                                   */
    float emb_scale; /* token embeddings are multiplied by it (1: none) */
    mm_gelu_kind act;
} textdec_hparams;

typedef struct textdec textdec;

/* What a graph needs of a block: the whole block for a step, or only the
 * cross-attention's key/value projections for the cross K/V graph (a graph
 * reads no weight it does not use, so none is uploaded for nothing). */
typedef enum textdec_part { TEXTDEC_STEP, TEXTDEC_CROSS_KV } textdec_part;

typedef struct textdec_arch {
    const char *model_type;
    /* Reads and checks the config into d->hp. */
    mm_status (*load)(textdec *d);
    /* Block il's weights and options for `part` (STEP: everything but the
     * cross-attention keys/values; CROSS_KV: cross.k_w..v_b and n_head).
     * Weights are checked where the config alone states a size. */
    mm_status (*block)(const textdec *d, mm_graph *g, int il, textdec_part part, mm_nn_block *out);
    /* Token and position tables {n_embd, rows}, the final norm and the LM
     * head as a Linear weight {n_embd, n_vocab} (the token table when tied). */
    mm_status (*embeddings)(const textdec *d, mm_graph *g, mm_tensor **tok, mm_tensor **pos, mm_nn_norm *final,
                            mm_tensor **head);
    /* Optional: encoder states {n_enc, T, B} -> what cross-attention projects
     * (vision-encoder-decoder's enc_to_dec_proj). */
    mm_status (*source)(const textdec *d, mm_graph *g, mm_tensor *enc, mm_tensor **out);
} textdec_arch;

struct textdec {
    mm_component c; /* kept alive by the runtime until free */
    const textdec_arch *arch;
    textdec_hparams hp;
    /* The folder's top level (weight prefix ""), for weights stored beside
     * the decoder's own: enc_to_dec_proj. */
    mm_component top;
    bool has_enc_proj;
};

extern const textdec_arch textdec_whisper;
extern const textdec_arch textdec_gpt2;

/* Config helpers over the component's prefix: required size, optional
 * float/bool with a default, activation name. */
mm_status textdec_config_float_or(const textdec *d, const char *key, double def, float *out);
mm_status textdec_config_bool_or(const textdec *d, const char *key, bool def, bool *out);
mm_status textdec_config_act(const textdec *d, const char *key, mm_gelu_kind *out);
/* n_embd divisible by n_head; n_layer within reason. */
mm_status textdec_check_heads(const textdec *d, const char *width_key, const char *heads_key);

/* A Conv1D weight stored [in, out] (ne {out, in}) as the Linear weight
 * {in, n} of its output columns [col0, col0 + n): a transposed view, which
 * the matmul reads with swapped strides (no copy per step; an F16 weight is
 * widened once into the weight set). */
mm_tensor *textdec_conv1d_cols(mm_graph *g, mm_tensor *w, int64_t col0, int64_t n);
/* Elements [i0, i0 + n) of a 1-D bias, as a view. */
mm_tensor *textdec_bias_part(mm_graph *g, mm_tensor *b, int64_t i0, int64_t n);

#endif
