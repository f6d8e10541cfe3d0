/* Queries specific to the CPU backend. */
#ifndef MM_CPU_H
#define MM_CPU_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CPU backend's matmuls run on OpenBLAS, whose kernels are chosen once,
 * when it loads, from OPENBLAS_CORETYPE or else the CPU model: on CPUs newer
 * than it, Debian 12's OpenBLAS falls back to narrow ones (SSE3 on Emerald
 * Rapids, AVX2 on Zen 5), several times slower. A program fixes that by
 * setting OPENBLAS_CORETYPE before it starts (mmrun re-executes itself with
 * it); the library only warns, once per process. */

/* The kernel family OpenBLAS uses: "SkylakeX", "Haswell", "Prescott", ... */
MM_API const char *mm_cpu_blas_core(void);
/* The OPENBLAS_CORETYPE value that selects the widest kernels this CPU
 * runs ("SkylakeX", "Haswell", "Sandybridge"), or NULL when OpenBLAS
 * already uses them. */
MM_API const char *mm_cpu_blas_coretype_hint(void);

#ifdef __cplusplus
}
#endif
#endif
