/* A small fork-join thread pool: the calling thread runs task 0 and waits
 * for the workers to finish the rest. Workers sleep between jobs, so an idle
 * pool does not compete with OpenBLAS's own threads. */
#ifndef MM_THREADPOOL_H
#define MM_THREADPOOL_H

#include "mm/mm.h"

typedef struct mm_threadpool mm_threadpool;

/* fn(ctx, ith, nth) runs once for every ith in [0, nth). */
typedef void (*mm_threadpool_fn)(void *ctx, int32_t ith, int32_t nth);

/* n_threads counts the caller; 1 starts no worker. NULL (error set) on failure. */
mm_threadpool *mm_threadpool_init(int32_t n_threads);
void mm_threadpool_free(mm_threadpool *tp);
int32_t mm_threadpool_size(const mm_threadpool *tp);
/* Runs fn on nth = min(n_tasks, pool size) threads and returns when all are
 * done. tp may be NULL (runs fn(ctx, 0, 1)). Not reentrant. */
void mm_threadpool_run(mm_threadpool *tp, int32_t n_tasks, mm_threadpool_fn fn, void *ctx);

#endif
