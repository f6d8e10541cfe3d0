/* Image batches with overlap: worker threads decode and preprocess the
 * images of the next batches while the caller runs the current one through
 * a tower, so the front end's cost hides behind the compute.
 *
 *     img_batches *q;  img_batches_start(pp, paths, n, 32, 224, 224, 0, &q);
 *     img_batch *b;
 *     while ((b = img_batches_next(q))) {
 *         mm_embedder_image(e, b->pixels, b->n_ok, out);  // b->item[i]: which path row i is
 *         ... b->error[j]: why item b->first + j failed, or NULL ...
 *         img_batches_release(q, b);                        // its slot refills now
 *     }
 *     img_batches_free(q);
 *
 * Items are claimed in order by the workers; item i lands in slot
 * (i / batch) % IMG_BATCH_SLOTS once the consumer has released that slot's
 * previous batch, so at most IMG_BATCH_SLOTS batches of pixels exist at a
 * time (a double buffer) however many workers run.
 *
 * It lives in the CLI (index, embed, classify and bench-clip use it) rather
 * than in libmm-media because it is policy (threads, slots, how failures are
 * reported) over that library's two calls; a program with its own thread
 * pool would write its own in a few lines. */
#ifndef MM_CLI_IMAGE_BATCHES_H
#define MM_CLI_IMAGE_BATCHES_H

#include "mm/media.h"

#include <stdint.h>

#define IMG_BATCH_SLOTS 2

typedef struct img_batch {
    int32_t first;   /* index of the batch's first item            */
    int32_t n;       /* items in the batch (last one may be short) */
    int32_t n_ok;    /* images decoded: the rows of pixels          */
    float *pixels;   /* n_ok images, [n_ok][3][h][w], in item order */
    int32_t *item;   /* [n_ok]: the item index of each row          */
    char **error;    /* [n]: NULL, or why item first + j failed     */
} img_batch;

typedef struct img_batches img_batches;

/* Starts the workers over paths[0..n) (which must outlive q). Each image is
 * loaded with mm_image_load(path, max_pixels) and must preprocess to
 * width x height (the tower's input); n_workers 0 picks one per two cores
 * (1..4). */
mm_status img_batches_start(const mm_image_proc *pp, const char *const *paths, int32_t n, int32_t batch,
                            int32_t width, int32_t height, int32_t n_workers, img_batches **out);
/* The next batch in order (blocking until it is complete), or NULL after
 * the last one. */
img_batch *img_batches_next(img_batches *q);
/* Hands a batch's slot back to the workers. */
void img_batches_release(img_batches *q, img_batch *b);
/* Stops the workers (unfinished batches are dropped) and frees q. */
void img_batches_free(img_batches *q);

#endif
