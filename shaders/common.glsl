/* Shared by every compute shader: workgroup size from specialization
 * constant 0, the linear index of a 2-D dispatch (the host splits large
 * 1-D launches into x,y because maxComputeWorkGroupCount[0] may be 65535),
 * and how F32 inputs are read.
 *
 * IN_BUF(binding, name) declares an input; LD(name, i) reads float i and
 * LD4(name, i) the vec4 at float 4*i. By default inputs are storage buffers.
 * With TEXEL_READS (the *_tex variants for CPU-emulated devices) they are
 * uniform texel buffers: binding b is an R32F view, b + 6 an RGBA32F view
 * of the same memory. On lavapipe a storage-buffer load is a scalar loop
 * over the SIMD lanes, ~20x slower than a texel fetch. */
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;

uint mm_group_linear()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

uint mm_thread_linear()
{
    return mm_group_linear() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

/* Splits a linear element index into 4-D coordinates of shape ne. */
uvec4 mm_unravel(uint i, uvec4 ne)
{
    uvec4 c;
    c.x = i % ne.x;
    i /= ne.x;
    c.y = i % ne.y;
    i /= ne.y;
    c.z = i % ne.z;
    c.w = i / ne.z;
    return c;
}

#ifdef TEXEL_READS
#define IN_BUF(b, name) layout(binding = b) uniform samplerBuffer name; \
                        layout(binding = b + 6) uniform samplerBuffer name##4
#define LD(name, i) texelFetch(name, int(i)).x
#define LD4(name, i) texelFetch(name##4, int(i))
#else
#define IN_BUF(b, name) layout(binding = b) readonly buffer name##_ssbo { float name[]; }; \
                        layout(binding = b) readonly buffer name##_ssbo4 { vec4 name##4[]; }
#define LD(name, i) name[i]
#define LD4(name, i) name##4[i]
#endif
