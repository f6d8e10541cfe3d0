/* Fork-join pool. A decoding step is a chain of small kernels (a 384x384
 * matmul streams its weight in about 10 us), so handing a job over must
 * cost well under that: waking a thread sleeping on a condition variable
 * costs tens of microseconds, and it cost a whisper-tiny step a third of
 * its time. Workers therefore spin on an atomic job counter for a while
 * after each job (SPIN_NS) and only then sleep on the condition variable,
 * so an idle pool still leaves the cores to other work (OpenBLAS's own
 * threads, other processes) after a short delay. The caller waits for the
 * workers the same way. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* How long a thread polls before it sleeps: longer than the gaps between
 * a step's kernels and between steps (sampling, beam bookkeeping), short
 * enough that an idle pool costs nothing noticeable. */
#define SPIN_NS 2000000

struct mm_threadpool {
    int32_t n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    _Atomic uint64_t generation; /* bumped per job; workers run each generation once */
    atomic_int pending;          /* workers yet to finish (or skip) the current job:
                                  * every worker counts, so none still reads
                                  * fn, ctx or nth when the next job is set  */
    int32_t sleepers;            /* workers waiting on wake (under mu)               */
    bool caller_sleeping;        /* the caller waits on done (under mu)              */
    int32_t nth;                 /* threads taking part in the current job           */
    mm_threadpool_fn fn;
    void *ctx;
    atomic_bool quit;
};

typedef struct worker_arg {
    mm_threadpool *tp;
    int32_t ith;
} worker_arg;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Polls until done(arg) holds, for about SPIN_NS; false if it still does not. */
static bool spin_until(bool (*done)(mm_threadpool *, uint64_t), mm_threadpool *tp, uint64_t arg)
{
    int64_t deadline = 0;
    for (uint32_t i = 0;; i++) {
        if (done(tp, arg))
            return true;
        if ((i & 255) == 255) { /* the clock costs more than a pause */
            int64_t t = now_ns();
            if (!deadline)
                deadline = t + SPIN_NS;
            else if (t > deadline)
                return false;
        }
        cpu_relax();
    }
}

static bool new_job(mm_threadpool *tp, uint64_t seen)
{
    return atomic_load_explicit(&tp->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&tp->quit, memory_order_relaxed);
}

static bool job_done(mm_threadpool *tp, uint64_t unused)
{
    (void)unused;
    return atomic_load_explicit(&tp->pending, memory_order_acquire) == 0;
}

static void *worker_main(void *p)
{
    worker_arg *wa = p;
    mm_threadpool *tp = wa->tp;
    int32_t ith = wa->ith;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until(new_job, tp, seen)) {
            pthread_mutex_lock(&tp->mu);
            tp->sleepers++;
            while (!new_job(tp, seen))
                pthread_cond_wait(&tp->wake, &tp->mu);
            tp->sleepers--;
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load_explicit(&tp->quit, memory_order_relaxed))
            break;
        seen = atomic_load_explicit(&tp->generation, memory_order_acquire);
        if (ith < tp->nth)
            tp->fn(tp->ctx, ith, tp->nth);
        if (atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&tp->mu);
            if (tp->caller_sleeping)
                pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
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
    atomic_store(&tp->quit, true);
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
    /* The job is published by the release increment of generation; a
     * worker that reads the new generation (acquire) sees fn, ctx and nth. */
    tp->fn = fn;
    tp->ctx = ctx;
    tp->nth = nth;
    atomic_store_explicit(&tp->pending, tp->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_acq_rel);
    /* A worker about to sleep checks the generation under mu after
     * counting itself a sleeper, so it either sees this job or is woken. */
    pthread_mutex_lock(&tp->mu);
    if (tp->sleepers)
        pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);

    fn(ctx, 0, nth);

    if (!spin_until(job_done, tp, 0)) {
        pthread_mutex_lock(&tp->mu);
        tp->caller_sleeping = true;
        while (!job_done(tp, 0))
            pthread_cond_wait(&tp->done, &tp->mu);
        tp->caller_sleeping = false;
        pthread_mutex_unlock(&tp->mu);
    }
}
