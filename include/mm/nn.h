/* Transformer building blocks shared by the plugins (llama.cpp mtmd's
 * build_norm / build_attn / build_ffn). Weight lookups take names relative to
 * a component's weight prefix; a missing weight sets the graph's error. */
#ifndef MM_NN_H
#define MM_NN_H

#include "mm/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Weight `<prefix><name>` of the component as a graph constant, or NULL (and
 * graph error) when absent. The _opt variant returns NULL without error. */
MM_API mm_tensor *mm_nn_weight(mm_graph *g, const mm_component *c, const char *fmt, ...) MM_PRINTF(3, 4);
MM_API mm_tensor *mm_nn_weight_opt(mm_graph *g, const mm_component *c, const char *fmt, ...) MM_PRINTF(3, 4);

/* Config of a component: keys are relative to its config prefix. */
/* Larger sizes are not a real model: refusing them keeps allocations sane. */
#define MM_NN_MAX_DIM (INT64_C(1) << 20)
/* An integer size ("hidden_size"), required to be in 1..MM_NN_MAX_DIM. */
MM_API mm_status mm_nn_config_dim(const mm_component *c, const char *key, int64_t *out);
/* The same with a default for an absent key (configs that store only what
 * differs from their class's defaults, such as CLIP's sub-configs). */
MM_API mm_status mm_nn_config_dim_or(const mm_component *c, const char *key, int64_t def, int64_t *out);
/* "<config_prefix><key>" into buf (for messages and the mm_config_* calls). */
MM_API const char *mm_nn_config_key(const mm_component *c, const char *key, char *buf, size_t size);

/* Fails with the weight's name and both shapes unless t is {ne0,ne1,ne2,ne3}
 * (ne order); the error is not recorded in a graph. */
MM_API mm_status mm_nn_expect_shape(const mm_tensor *t, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);

/* y = x W^T + b for nn.Linear weights W [out,in]; b may be NULL. */
MM_API mm_tensor *mm_nn_linear(mm_graph *g, mm_tensor *x, mm_tensor *w, mm_tensor *b);

/* Replaces an attention's keys and values, per head {hd, N, Hkv, B}, by
 * what to attend {hd, Tk, Hkv, B}: a decoder step writes them into its
 * cache buffers at each token's position (mm_set_rows, the positions as
 * ids) and returns the buffers it wrote. */
typedef void (*mm_nn_kv_fn)(void *ctx, mm_graph *g, mm_tensor **k, mm_tensor **v);

typedef struct mm_nn_attn {
    mm_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b; /* biases may be NULL */
    int32_t n_head;
    float scale; /* usually head_dim^-0.5 */
    bool causal;
    mm_tensor *mask; /* optional additive mask, see mm_softmax */
    /* Keys and values per head {hd, Tk, Hkv, S} computed before (a decoder's
     * cross-attention buffers): attended as they are; k_w..v_b unused. S may
     * divide x's batch B (no mask, not causal): sequence b then reads source
     * b / (B/S), and each source's keys are read once for all its sequences
     * (the beams of one input share its cross-attention K/V). */
    mm_tensor *k, *v;
    /* Optional cache hook, called with the projected keys and values. */
    mm_nn_kv_fn kv_update;
    void *kv_ctx;
} mm_nn_attn;

/* Multi-head attention: x {D,Tq,B} attends over kv {D,Tk,B} (kv == x for
 * self-attention; unused when a->k/a->v are given). Returns {D,Tq,B} after
 * the output projection. */
MM_API mm_tensor *mm_nn_attention(mm_graph *g, mm_tensor *x, mm_tensor *kv, const mm_nn_attn *a);
/* The keys and values of kv {D,Tk,B} per head, {hd,Tk,H,B} each (views):
 * what mm_nn_attention attends, and what a decoder stores once per input as
 * its cross-attention buffers. */
MM_API void mm_nn_attention_kv(mm_graph *g, mm_tensor *kv, const mm_nn_attn *a, mm_tensor **k, mm_tensor **v);

/* Feed-forward: act(x W1^T + b1) W2^T + b2. */
MM_API mm_tensor *mm_nn_ffn(mm_graph *g, mm_tensor *x, mm_tensor *w1, mm_tensor *b1, mm_tensor *w2,
                            mm_tensor *b2, mm_gelu_kind act);

/* Layer-norm weights; either may be NULL. */
typedef struct mm_nn_norm {
    mm_tensor *w, *b;
} mm_nn_norm;

/* One pre-LN transformer block (ViT, Whisper encoder and decoder, CLIP's
 * towers, GPT-2): weights and options. */
typedef struct mm_nn_block {
    float eps;           /* of the block's layer norms                       */
    mm_nn_norm ln1;      /* before self-attention                            */
    mm_nn_attn attn;     /* self-attention: heads, scale, causal/mask, cache  */
    mm_nn_norm ln_cross; /* before cross-attention                           */
    mm_nn_attn cross;    /* cross-attention, when cross.q_w is set            */
    mm_nn_norm ln2;      /* before the feed-forward                          */
    mm_tensor *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    mm_gelu_kind act;
} mm_nn_block;

/* x {D,T,B} -> x + attn(ln1(x)), then (with cross-attention) x +
 * cross(ln_cross(x), enc), then x + ffn(ln2(x)). enc {D_enc,T_src,B} is
 * what the cross-attention projects; NULL when it has cross.k/cross.v or
 * there is none. */
MM_API mm_tensor *mm_nn_block_build(mm_graph *g, mm_tensor *x, mm_tensor *enc, const mm_nn_block *b);

/* x {D,N,B} -> {D,1+N,B} with the learned row tok ({D}: a [CLS] or class
 * embedding) in front of every batch item's sequence. */
MM_API mm_tensor *mm_nn_prepend_row(mm_graph *g, mm_tensor *x, mm_tensor *tok);

/* Parses config activation names ("gelu", "gelu_new", "quick_gelu", ...). */
MM_API mm_status mm_nn_gelu_kind(const char *hidden_act, mm_gelu_kind *out);

#ifdef __cplusplus
}
#endif
#endif
