// Shared conventions of every WF-VAE compute shader.
//
// Tensors are frame-major views [T][C][H][W] into one bound memory block (a float array):
// element (t, c, p) of a view lives at base + t * frameStride + c * plane + p, with p = y * W + x.
// Bases and strides arrive as push constants, so the same descriptor set serves every tensor in a block.

#ifndef WFVAE_COMMON_GLSL
#define WFVAE_COMMON_GLSL

// Linear invocation index across a 2D grid of workgroups (grids wrap at 65535 groups in x).
uint linear_index(uint local_size)
{
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * local_size + gl_LocalInvocationIndex;
}

float silu(float x)
{
    return x / (1.0 + exp(-x));
}

#endif
