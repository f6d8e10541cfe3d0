/* (value, index) workgroup reduction for argmax and top-k: the larger value
 * wins, the lower index on ties; index NONE marks "no candidate". */
#define NONE 0xffffffffu

shared float best_v[gl_WorkGroupSize.x];
shared uint best_i[gl_WorkGroupSize.x];

bool better(float v, uint i, float bv, uint bi)
{
    return i != NONE && (bi == NONE || v > bv || (v == bv && i < bi));
}

/* Returns the workgroup's best pair to every invocation. WG is a power of two. */
void wg_best(inout float v, inout uint i)
{
    const uint lid = gl_LocalInvocationID.x;
    barrier(); /* readers of the previous result are done */
    best_v[lid] = v;
    best_i[lid] = i;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s && better(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
            best_v[lid] = best_v[lid + s];
            best_i[lid] = best_i[lid + s];
        }
        barrier();
    }
    v = best_v[0];
    i = best_i[0];
}
