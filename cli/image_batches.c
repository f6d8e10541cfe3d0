/* Image batches decoded ahead by worker threads: see image_batches.h. */
#include "image_batches.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORKERS 4

typedef struct slot {
    img_batch b;
    int32_t done; /* items of its batch finished (decoded or failed) */
} slot;

struct img_batches {
    const mm_image_proc *pp;
    const char *const *paths;
    int32_t n, batch, width, height, n_batches;
    size_t per; /* floats per image */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t next_item; /* the next item a worker claims              */
    int32_t released;  /* batches the consumer has handed back        */
    int32_t next_out;  /* the batch img_batches_next gives next      */
    bool stop;
    slot slots[IMG_BATCH_SLOTS];

    pthread_t threads[MAX_WORKERS];
    int32_t n_threads;
};

static int32_t batch_size(const img_batches *q, int32_t bi)
{
    int32_t first = bi * q->batch;
    return q->n - first < q->batch ? q->n - first : q->batch;
}

/* Decodes item i into row j of its slot; NULL or a malloc'd message. */
static char *load_one(img_batches *q, int32_t i, float *dst)
{
    mm_image *img = NULL;
    int32_t w = 0, h = 0;
    char *why = NULL;
    if (mm_image_load(q->paths[i], 0, &img) != MM_OK ||
        mm_image_proc_output_size(q->pp, img, &w, &h) != MM_OK) {
        why = strdup(mm_error_message());
    } else if (w != q->width || h != q->height) {
        char msg[160];
        snprintf(msg, sizeof msg, "preprocesses to %dx%d, the model takes %dx%d", (int)w, (int)h, (int)q->width,
                 (int)q->height);
        why = strdup(msg);
    } else if (mm_image_proc_compute(q->pp, img, dst) != MM_OK) {
        why = strdup(mm_error_message());
    }
    mm_image_free(img);
    return why ? why : NULL;
}

static void *worker(void *arg)
{
    img_batches *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->stop || q->next_item >= q->n)
            break;
        int32_t i = q->next_item++, bi = i / q->batch;
        /* the slot is free once its previous batch has been released */
        while (!q->stop && bi >= q->released + IMG_BATCH_SLOTS)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        slot *s = &q->slots[bi % IMG_BATCH_SLOTS];
        int32_t j = i - bi * q->batch;
        pthread_mutex_unlock(&q->mu);
        char *why = load_one(q, i, s->b.pixels + (size_t)j * q->per); /* rows are this worker's alone */
        pthread_mutex_lock(&q->mu);
        s->b.error[j] = why;
        if (++s->done == batch_size(q, bi))
            pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void free_slots(img_batches *q)
{
    for (int s = 0; s < IMG_BATCH_SLOTS; s++) {
        img_batch *b = &q->slots[s].b;
        if (b->error)
            for (int32_t j = 0; j < q->batch; j++)
                free(b->error[j]);
        free(b->pixels);
        free(b->item);
        free(b->error);
    }
}

mm_status img_batches_start(const mm_image_proc *pp, const char *const *paths, int32_t n, int32_t batch,
                            int32_t width, int32_t height, int32_t n_workers, img_batches **out)
{
    *out = NULL;
    if (n < 0 || batch < 1 || width < 1 || height < 1)
        return mm_error_set(MM_ERR_INVALID, "image batches: %d items, batch %d, %dx%d", (int)n, (int)batch,
                            (int)width, (int)height);
    img_batches *q = calloc(1, sizeof *q);
    if (!q)
        return mm_error_set(MM_ERR_NOMEM, "image batches");
    q->pp = pp;
    q->paths = paths;
    q->n = n;
    q->batch = batch;
    q->width = width;
    q->height = height;
    q->n_batches = (int32_t)(((int64_t)n + batch - 1) / batch);
    q->per = (size_t)3 * (size_t)width * (size_t)height;
    for (int s = 0; s < IMG_BATCH_SLOTS; s++) {
        img_batch *b = &q->slots[s].b;
        b->pixels = malloc((size_t)batch * q->per * sizeof *b->pixels);
        b->item = malloc((size_t)batch * sizeof *b->item);
        b->error = calloc((size_t)batch, sizeof *b->error);
        if (!b->pixels || !b->item || !b->error) {
            free_slots(q);
            free(q);
            return mm_error_set(MM_ERR_NOMEM, "image batches: %d images of %dx%d", (int)batch, (int)width,
                                (int)height);
        }
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (n_workers <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n_workers = (int32_t)(cores > 1 ? cores / 2 : 1);
    }
    if (n_workers > MAX_WORKERS)
        n_workers = MAX_WORKERS;
    for (int32_t t = 0; t < n_workers; t++) {
        if (pthread_create(&q->threads[t], NULL, worker, q) != 0)
            break;
        q->n_threads++;
    }
    if (q->n_threads == 0) {
        img_batches_free(q);
        return mm_error_set(MM_ERR_INVALID, "image batches: cannot start a thread");
    }
    *out = q;
    return MM_OK;
}

img_batch *img_batches_next(img_batches *q)
{
    pthread_mutex_lock(&q->mu);
    int32_t bi = q->next_out;
    if (bi >= q->n_batches) {
        pthread_mutex_unlock(&q->mu);
        return NULL;
    }
    slot *s = &q->slots[bi % IMG_BATCH_SLOTS];
    int32_t size = batch_size(q, bi);
    while (s->done < size)
        pthread_cond_wait(&q->cv, &q->mu);
    q->next_out++;
    pthread_mutex_unlock(&q->mu);

    /* pack the decoded rows together, in item order */
    img_batch *b = &s->b;
    b->first = bi * q->batch;
    b->n = size;
    b->n_ok = 0;
    for (int32_t j = 0; j < size; j++) {
        if (b->error[j])
            continue;
        if (b->n_ok != j)
            memmove(b->pixels + (size_t)b->n_ok * q->per, b->pixels + (size_t)j * q->per, q->per * sizeof(float));
        b->item[b->n_ok++] = b->first + j;
    }
    return b;
}

void img_batches_release(img_batches *q, img_batch *b)
{
    pthread_mutex_lock(&q->mu);
    for (int32_t j = 0; j < b->n; j++) {
        free(b->error[j]);
        b->error[j] = NULL;
    }
    q->slots[(b->first / q->batch) % IMG_BATCH_SLOTS].done = 0;
    q->released++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void img_batches_free(img_batches *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int32_t t = 0; t < q->n_threads; t++)
        pthread_join(q->threads[t], NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free_slots(q);
    free(q);
}
