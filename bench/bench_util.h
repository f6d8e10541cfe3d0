/* Timing helpers shared by the benchmarks and `mmrun bench`. */
#ifndef MM_BENCH_UTIL_H
#define MM_BENCH_UTIL_H

/* A threaded OpenBLAS call leaves its worker threads spinning on
 * sched_yield for 2^28 TSC cycles (OPENBLAS_THREAD_TIMEOUT, about 0.1 s):
 * a backend timed straight after one shares the cores with them and looks
 * up to twice as slow. Pause this long after OpenBLAS before timing a
 * backend. */
#define BENCH_QUIET_US 250000

double bench_now(void);                /* monotonic seconds */
double bench_median(double *t, int n); /* sorts t */

#endif
