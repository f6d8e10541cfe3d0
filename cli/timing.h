/* Wall-clock timing shared by `mmrun bench` and the benchmarks in bench/
 * (which compile cli/timing.c themselves: mmrun links nothing of bench/). */
#ifndef MM_CLI_TIMING_H
#define MM_CLI_TIMING_H

double bench_now(void);                /* monotonic seconds */
double bench_median(double *t, int n); /* sorts t */

#endif
