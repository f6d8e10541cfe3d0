/* Image captioning with a vision-encoder-decoder folder (libmm): the
 * encoder plugin (ViT) over a batch of pixel values, then the decoder
 * plugin (GPT-2 with cross-attention) through the shared decoding loop
 * (mm/generate.h), all images of a batch decoded together, and the
 * tokenizer for the text.
 *
 *     mm_captioner *c;  mm_captioner_init(rt, "vit-gpt2/", &c);
 *     mm_caption_params p = mm_captioner_default_params(c); // generation_config.json
 *     mm_caption out[2];  mm_caption_images(c, pixels, 2, &p, out);
 *     ... out[i].text, out[i].tokens ...
 *     mm_caption_clear(&out[0]); mm_caption_clear(&out[1]); mm_captioner_free(c); */
#ifndef MM_CAPTION_H
#define MM_CAPTION_H

#include "mm/generate.h"
#include "mm/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_captioner mm_captioner;

typedef struct mm_caption_params {
    int32_t n_beams;               /* 1: greedy or sampling                 */
    int32_t max_new_tokens;
    float length_penalty;
    mm_early_stopping early_stopping;
    int32_t no_repeat_ngram_size;  /* 0: off                                */
    float repetition_penalty;      /* 1: off                                */
    mm_sampling_params sampling;   /* temperature 0: no sampling            */
} mm_caption_params;

typedef struct mm_caption {
    char *text;      /* special tokens dropped, leading/trailing spaces trimmed */
    int32_t *tokens; /* generated ids without the start token (the end token
                        included when it ended the caption)                     */
    int32_t n_tokens;
    float score;     /* beam score, or the sum of log-probs                      */
} mm_caption;

MM_API void mm_caption_clear(mm_caption *c);

/* Loads a vision-encoder-decoder folder (weights, tokenizer files) on the
 * runtime's backend, with the generation defaults of generation_config.json
 * (else config.json and its decoder section, as transformers falls back). */
MM_API mm_status mm_captioner_init(mm_runtime *rt, const char *model_dir, mm_captioner **out);
MM_API void mm_captioner_free(mm_captioner *c);
MM_API mm_caption_params mm_captioner_default_params(const mm_captioner *c);
/* The pixel values of one image: {W, H, C} as the image front end writes them. */
MM_API mm_status mm_captioner_image_shape(const mm_captioner *c, mm_shape *out);
/* Captions n images, pixels[n][C][H][W], as one batch through the encoder
 * and the decoder; out has n entries. */
MM_API mm_status mm_caption_images(mm_captioner *c, const float *pixels, int32_t n, const mm_caption_params *p,
                                   mm_caption *out);

#ifdef __cplusplus
}
#endif
#endif
