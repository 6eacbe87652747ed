// Shared conventions of every WF-VAE compute shader.
//
// Tensors are frame-major views [T][C][H][W] into one bound memory block (a float array):
// element (t, c, p) of a view lives at base + t * frameStride + c * plane + p, with p = y * W + x.
// Bases and strides arrive as push constants, so the same descriptor set serves every tensor in a block.

#ifndef WFVAE_COMMON_GLSL
#define WFVAE_COMMON_GLSL

// Element type of activation and weight buffers. Every shader with a "//! fp16" line is compiled twice (Shaders.targets):
// "<name>.spv" with float storage and "<name>_f16.spv" with -DWFVAE_F16=1, where the same buffers hold float16_t.
// Arithmetic stays fp32 in both: loads widen to float (a product of two halves is exact in fp32, so an fp32 fma
// chain over fp16 operands is "fp16 multiply, fp32 accumulate"), stores round once to the buffer's type.
// Norm affine parameters and statistics scratch stay float in both variants (they are tiny).
#ifdef WFVAE_F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define ELEM float16_t
#define ELEM4 f16vec4
#else
#define ELEM float
#define ELEM4 vec4
#endif

// Linear invocation index across a 2D grid of workgroups (grids wrap at 65535 groups in x).
uint linear_index(uint local_size)
{
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * local_size + gl_LocalInvocationIndex;
}

float silu(float x)
{
    return x / (1.0 + exp(-x));
}

vec4 silu(vec4 x)
{
    return x / (1.0 + exp(-x));
}

#endif
