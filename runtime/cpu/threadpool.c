/* Fork-join pool on one mutex and two condition variables. Jobs are coarse
 * (a kernel call split into n_threads slices), so a mutex per job is cheap
 * next to the work, and sleeping workers leave the cores to OpenBLAS. */
#include "threadpool.h"

#include <pthread.h>
#include <stdlib.h>

struct mm_threadpool {
    int32_t n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation; /* bumped per job; workers run each generation once */
    int32_t nth;         /* threads taking part in the current job           */
    int32_t pending;     /* workers of the current job still running         */
    mm_threadpool_fn fn;
    void *ctx;
    bool quit;
};

typedef struct worker_arg {
    mm_threadpool *tp;
    int32_t ith;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *wa = p;
    mm_threadpool *tp = wa->tp;
    int32_t ith = wa->ith;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->quit && tp->generation == seen)
            pthread_cond_wait(&tp->wake, &tp->mu);
        if (tp->quit)
            break;
        seen = tp->generation;
        if (ith >= tp->nth)
            continue;
        mm_threadpool_fn fn = tp->fn;
        void *ctx = tp->ctx;
        int32_t nth = tp->nth;
        pthread_mutex_unlock(&tp->mu);
        fn(ctx, ith, nth);
        pthread_mutex_lock(&tp->mu);
        if (--tp->pending == 0)
            pthread_cond_signal(&tp->done);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

mm_threadpool *mm_threadpool_init(int32_t n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    mm_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp || !(tp->threads = calloc((size_t)n_threads, sizeof *tp->threads))) {
        free(tp);
        mm_error_set(MM_ERR_NOMEM, "thread pool: out of memory");
        return NULL;
    }
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    tp->n_threads = 1;
    for (int32_t i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->tp = tp;
            wa->ith = i;
        }
        if (!wa || pthread_create(&tp->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            mm_threadpool_free(tp);
            mm_error_set(MM_ERR_BACKEND, "thread pool: cannot start thread %d of %d", i, n_threads);
            return NULL;
        }
        tp->n_threads = i + 1;
    }
    return tp;
}

void mm_threadpool_free(mm_threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    tp->quit = true;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int32_t i = 1; i < tp->n_threads; i++)
        pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    free(tp->threads);
    free(tp);
}

int32_t mm_threadpool_size(const mm_threadpool *tp)
{
    return tp ? tp->n_threads : 1;
}

void mm_threadpool_run(mm_threadpool *tp, int32_t n_tasks, mm_threadpool_fn fn, void *ctx)
{
    int32_t nth = n_tasks < mm_threadpool_size(tp) ? n_tasks : mm_threadpool_size(tp);
    if (nth <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->ctx = ctx;
    tp->nth = nth;
    tp->pending = nth - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    fn(ctx, 0, nth);
    pthread_mutex_lock(&tp->mu);
    while (tp->pending > 0)
        pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}
