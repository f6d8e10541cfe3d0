/* Workgroup-wide reductions (sum, max). With USE_SUBGROUP each subgroup
 * reduces first and one shared-memory step combines the subgroups; the plain
 * build is a log2(WG) tree and needs a power-of-two workgroup size. Every
 * invocation must call these from uniform control flow; all get the result. */
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float mm_red[gl_WorkGroupSize.x];

#define MM_RED_SUM 0
#define MM_RED_MAX 1

float mm_combine(float a, float b, const uint op)
{
    return op == MM_RED_SUM ? a + b : max(a, b);
}

float mm_wg_reduce(float v, const uint op)
{
#ifdef USE_SUBGROUP
    v = op == MM_RED_SUM ? subgroupAdd(v) : subgroupMax(v);
    if (gl_NumSubgroups == 1)
        return v;
    barrier(); /* readers of the previous reduction are done with mm_red */
    if (subgroupElect())
        mm_red[gl_SubgroupID] = v;
    barrier();
    float r = mm_red[0];
    for (uint i = 1; i < gl_NumSubgroups; i++)
        r = mm_combine(r, mm_red[i], op);
    return r;
#else
    const uint lid = gl_LocalInvocationID.x;
    barrier();
    mm_red[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s)
            mm_red[lid] = mm_combine(mm_red[lid], mm_red[lid + s], op);
        barrier();
    }
    return mm_red[0];
#endif
}

float wg_sum(float v) { return mm_wg_reduce(v, MM_RED_SUM); }
float wg_max(float v) { return mm_wg_reduce(v, MM_RED_MAX); }
