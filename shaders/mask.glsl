/* Masked scores without infinities. A driver may assume that no value is
 * Inf or NaN unless the shader declares otherwise (SignedZeroInfNanPreserve),
 * and LLVM-based drivers then fold comparisons with -inf away: masked rows
 * and padded tail chunks would turn into NaN. So every score here stays
 * finite:
 *   MM_MASKED  a masked key (a -inf input or mask value, causal, padding)
 *   MM_LOWEST  the lowest score that still counts: finite scores are
 *              clamped to it, so a finite mask (-FLT_MAX, -1e30, -1e4)
 *              gives the weights it gives on the CPU, never "masked"
 * -inf in the tensors is recognised by its bits (an integer compare no
 * float assumption can remove). tests/lint_shaders.sh refuses infinities
 * in shader sources. */
const float MM_MASKED = -3.4028234663852886e38; /* -FLT_MAX */
const float MM_LOWEST = -3.4028232635611926e38; /* the float just above it */

bool mm_is_neg_inf(float x) { return floatBitsToUint(x) == 0xff800000u; }

/* x * scale + m as a finite score, or MM_MASKED when x or m is -inf. */
float mm_score(float x, float scale, float m)
{
    if (mm_is_neg_inf(x) || mm_is_neg_inf(m))
        return MM_MASKED;
    return max(x * scale + m, MM_LOWEST);
}

/* exp(s - mx) for s <= mx, 0 where it underflows: s - mx never overflows. */
float mm_exp_below(float s, float mx) { return s < mx - 104.0 ? 0.0 : exp(s - mx); }

/* A score's softmax weight against the running maximum mx: 0 when masked. */
float mm_weight(float s, float mx) { return s == MM_MASKED ? 0.0 : mm_exp_below(s, mx); }
