/* The re-exec behind blas_reexec.h. It belongs to the program, not the
 * library: replacing the process is not a library's call to make. */
#include "blas_reexec.h"

#include "mm/cpu.h"

#include <stdlib.h>
#include <unistd.h>

void blas_reexec(char **argv)
{
    const char *hint = mm_cpu_blas_coretype_hint();
    if (!hint || getenv("OPENBLAS_CORETYPE")) /* the user's choice stands; also ends the loop */
        return;
    if (setenv("OPENBLAS_CORETYPE", hint, 1) != 0)
        return;
    mm_log(MM_LOG_DEBUG, "OpenBLAS chose %s kernels; restarting with OPENBLAS_CORETYPE=%s", mm_cpu_blas_core(), hint);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with what we have */
}
