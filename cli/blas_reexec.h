/* OpenBLAS kernel fix-up for programs (mmrun and the benchmarks, which
 * compile cli/blas_reexec.c themselves). */
#ifndef MM_CLI_BLAS_REEXEC_H
#define MM_CLI_BLAS_REEXEC_H

/* Called first thing in main(): when OpenBLAS chose kernels narrower than
 * this CPU runs and OPENBLAS_CORETYPE is unset, sets it to the widest ones
 * (mm_cpu_blas_coretype_hint) and re-executes the program, since OpenBLAS
 * reads it only when it loads. Otherwise, or if exec fails, returns. */
void blas_reexec(char **argv);

#endif
