/* Helpers of the benchmarks; timing and the OpenBLAS fix-up are mmrun's
 * (cli/), compiled in here too. */
#ifndef MM_BENCH_UTIL_H
#define MM_BENCH_UTIL_H

#include "blas_reexec.h" /* cli/: the OpenBLAS kernels mmrun runs */
#include "timing.h"      /* cli/: bench_now, bench_median */

/* A threaded OpenBLAS call leaves its worker threads spinning on
 * sched_yield for 2^28 TSC cycles (OPENBLAS_THREAD_TIMEOUT, about 0.1 s):
 * a backend timed straight after one shares the cores with them and looks
 * up to twice as slow. Pause this long after OpenBLAS before timing a
 * backend. */
#define BENCH_QUIET_US 250000

#endif
