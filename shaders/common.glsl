/* Shared by every compute shader: workgroup size from specialization
 * constant 0, and the linear index of a 2-D dispatch (the host splits large
 * 1-D launches into x,y because maxComputeWorkGroupCount[0] may be 65535). */
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
