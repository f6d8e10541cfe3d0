/* Whether OpenBLAS runs kernels as wide as this CPU allows.
 *
 * Debian 12's OpenBLAS 0.3.21 picks its kernels by CPU model number and
 * falls back to old ones on CPUs newer than itself: Prescott (SSE3) on
 * Emerald Rapids Xeons (family 6 model 207), Haswell (AVX2) on Zen 5. Its
 * sgemm then runs 2-7x slower than its AVX-512 kernels would (1500x384x384
 * on 2 cores: 28 GFLOP/s as Prescott, 150 as SkylakeX). The choice is made
 * once, when the library loads, from OPENBLAS_CORETYPE; so the fix is that
 * variable, set before the program starts: a program's business (mmrun
 * re-executes itself, cli/blas_reexec.c), so the library only reports. */
#include "cpu_backend.h"

#include <cblas.h>
#include <string.h>
#include <strings.h>

enum { TIER_OLD, TIER_AVX, TIER_AVX2, TIER_AVX512 };

/* The widest OpenBLAS kernel family this CPU (and its OS) can run, with the
 * OPENBLAS_CORETYPE name that selects it. */
static int cpu_tier(const char **coretype)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        *coretype = "SkylakeX";
        return TIER_AVX512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *coretype = "Haswell";
        return TIER_AVX2;
    }
    if (__builtin_cpu_supports("avx")) {
        *coretype = "Sandybridge";
        return TIER_AVX;
    }
    *coretype = NULL;
    return TIER_OLD;
}

/* Tier of the kernels OpenBLAS loaded, by the core name it reports. Names
 * not listed (ARM, older x86, unknown) count as the oldest tier, which only
 * matters where the CPU itself is newer. */
static int blas_tier(const char *core)
{
    static const struct {
        const char *name;
        int tier;
    } known[] = {
        {"SkylakeX", TIER_AVX512}, {"Cooperlake", TIER_AVX512}, {"SapphireRapids", TIER_AVX512},
        {"Haswell", TIER_AVX2},    {"Zen", TIER_AVX2},          {"Sandybridge", TIER_AVX},
        {"Bulldozer", TIER_AVX},   {"Piledriver", TIER_AVX},    {"Steamroller", TIER_AVX},
        {"Excavator", TIER_AVX},
    };
    for (size_t i = 0; core && i < sizeof known / sizeof known[0]; i++)
        if (strcasecmp(core, known[i].name) == 0)
            return known[i].tier;
    return TIER_OLD;
}

const char *mm_cpu_blas_core(void)
{
    return openblas_get_corename();
}

const char *mm_cpu_blas_coretype_hint(void)
{
    const char *coretype;
    int cpu = cpu_tier(&coretype);
    return cpu > blas_tier(openblas_get_corename()) ? coretype : NULL;
}
