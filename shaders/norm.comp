#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

//! variant texel: -DWFVAE_TEXEL=1
//! variant texel4: -DWFVAE_TEXEL=1 -DWFVAE_VEC4=1
//! fp16

// Normalisation family on [T][C][H][W] views (docs/model.md#normalisation), with optional fused SiLU.
//
// MODE 0  LayerNorm: one invocation per voxel (t, p); mean over the C channels, then the centred sum of
//         squares (two passes, fixed channel order), then y. A voxel's arithmetic never depends on the
//         dispatch (frame count, neighbours), so streamed and whole-clip results are bit-identical.
// MODE 1  GroupNorm statistics: one workgroup per (chunk, group, frame). Inside a frame a group's channels
//         are one contiguous run of cpg * plane elements; it is cut into chunks of chunkLen elements. Each
//         workgroup writes (mean, M2, n) of its chunk (two passes over the chunk: mean, then centred squares).
// MODE 2  GroupNorm merge: one workgroup per (group, segment); merges the chunks' (mean, M2, n) with Chan's
//         formula in a fixed order (per-invocation strided sequence, then a fixed tree) and writes
//         (mean, 1/sqrt(var + eps)) per (segment, group). A segment is a frame (perFrame) or the whole clip.
// MODE 3  GroupNorm apply: one invocation per element.
//
// Bindings: 0 x, 1 gamma, 2 beta, 3 y, 4 scratch (GroupNorm partials and statistics). gamma/beta hold C
// consecutive floats starting at gBase / bBase. Any bindings may be the same buffer; x and y may be the same view.
//
// Variant norm_texel (-DWFVAE_TEXEL=1), for CPU drivers: x, gamma and beta are read through R32F texel views (R16F for
// x in fp16; gamma and beta stay fp32), not storage buffers. On lavapipe a storage-buffer load is a loop over the SIMD
// lanes with a branch per lane, a texel fetch one gather; LayerNorm reads x three times per channel, so this is its
// cost. Loads only: the arithmetic and its order are the plain variant's, so both give the same bits.
// Variant norm_texel4 (-DWFVAE_TEXEL=1 -DWFVAE_VEC4=1), LayerNorm only: an invocation normalises 4 consecutive voxels
// of one frame as vec4s: x through an RGBA32F (RGBA16F) view, one fetch per channel for the 4 voxels, and y stored as
// one vec4 per channel (on llvmpipe a storage-buffer store is a per-lane loop, so this is 4x fewer of them). The host
// picks it where x's and y's bases and frame strides and the plane are multiples of 4. Each component runs the scalar
// arithmetic of one voxel in the same order: same bits as the other two.

layout(local_size_x = 256) in;
layout(constant_id = 0) const int MODE = 0;
layout(constant_id = 1) const int SILU = 0;

#define WG 256u

#ifdef WFVAE_TEXEL
layout(binding = 0) uniform textureBuffer xTex;   // R32F (R16F), or RGBA32F (RGBA16F) in norm_texel4
layout(binding = 1) uniform textureBuffer gTex;
layout(binding = 2) uniform textureBuffer bTex;
#else
layout(std430, binding = 0) readonly buffer X { ELEM xs[]; };
layout(std430, binding = 1) readonly buffer G { float gs[]; };
layout(std430, binding = 2) readonly buffer B { float bs[]; };
#endif
#ifdef WFVAE_VEC4
layout(std430, binding = 3) buffer Y { ELEM4 ys4[]; };
#else
layout(std430, binding = 3) buffer Y { ELEM ys[]; };
#endif
layout(std430, binding = 4) buffer S { float ss[]; };

// Element access in one place, so the fp16-storage and texel variants only change these.
#if defined(WFVAE_VEC4)
// Element access for the GroupNorm modes, which this variant also compiles (the host never runs them with it).
#define LOAD_X(i) texelFetch(xTex, int((i) / 4u))[(i) % 4u]
#define LOAD_G(i) texelFetch(gTex, int(i)).x
#define LOAD_B(i) texelFetch(bTex, int(i)).x
#elif defined(WFVAE_TEXEL)
#define LOAD_X(i) texelFetch(xTex, int(i)).x
#define LOAD_G(i) texelFetch(gTex, int(i)).x
#define LOAD_B(i) texelFetch(bTex, int(i)).x
#else
#define LOAD_X(i) float(xs[i])
#define LOAD_G(i) gs[i]
#define LOAD_B(i) bs[i]
#endif
#ifdef WFVAE_VEC4
#define STORE_Y(i, v) ys4[(i) / 4u][(i) % 4u] = ELEM(v)
#else
#define STORE_Y(i, v) ys[i] = ELEM(v)
#endif

layout(push_constant) uniform Push {
    uint xBase, xFrame;
    uint yBase, yFrame;
    uint gBase, bBase;
    uint sBase;      // partials: (mean, M2, n) per ((t * groups + g) * nChunks + chunk)
    uint statsOff;   // sBase + statsOff: (mean, rstd) per (segment * groups + g)
    uint C, plane, T;
    uint groups, cpg;
    uint nChunks, chunkLen;
    uint perFrame;
    uint count;      // invocations needed (MODE 0: T * plane, MODE 3: T * C * plane)
    float eps;
} p;

shared float sh0[WG];
shared float sh1[WG];
shared float sh2[WG];

float finish(float v)
{
    return SILU != 0 ? silu(v) : v;
}

// Fixed-shape tree sum of sh0 (deterministic); result in sh0[0].
void tree_sum()
{
    for (uint s = WG / 2u; s > 0u; s >>= 1u)
    {
        barrier();
        if (gl_LocalInvocationIndex < s) sh0[gl_LocalInvocationIndex] += sh0[gl_LocalInvocationIndex + s];
    }
    barrier();
}

// Chan et al. parallel merge of (mean, M2, n) pairs.
void merge(inout float ma, inout float m2a, inout float na, float mb, float m2b, float nb)
{
    if (nb == 0.0) return;
    if (na == 0.0) { ma = mb; m2a = m2b; na = nb; return; }
    float n = na + nb;
    float d = mb - ma;
    float f = nb / n;
    ma = ma + d * f;
    m2a = m2a + m2b + d * d * (na * f);
    na = n;
}

#ifdef WFVAE_VEC4
vec4 finish4(vec4 v)
{
    return SILU != 0 ? silu(v) : v;
}

// Voxels 4i .. 4i + 3 (p.count = voxels / 4): the scalar layer_norm below on each component.
void layer_norm()
{
    uint i = linear_index(WG);
    if (i >= p.count) return;
    uint v0 = 4u * i;
    uint t = v0 / p.plane;
    uint pos = v0 - t * p.plane;
    uint xb = (p.xBase + t * p.xFrame + pos) / 4u;
    uint yb = (p.yBase + t * p.yFrame + pos) / 4u;
    uint plane4 = p.plane / 4u;
    vec4 sum = vec4(0.0);
    for (uint c = 0u; c < p.C; c++) sum += texelFetch(xTex, int(xb + c * plane4));
    vec4 mean = sum / float(p.C);
    vec4 sq = vec4(0.0);
    for (uint c = 0u; c < p.C; c++)
    {
        vec4 d = texelFetch(xTex, int(xb + c * plane4)) - mean;
        sq += d * d;
    }
    vec4 rstd = 1.0 / sqrt(sq / float(p.C) + p.eps);
    for (uint c = 0u; c < p.C; c++)
    {
        vec4 v = (texelFetch(xTex, int(xb + c * plane4)) - mean) * (rstd * LOAD_G(p.gBase + c)) + LOAD_B(p.bBase + c);
        ys4[yb + c * plane4] = ELEM4(finish4(v));
    }
}
#else
void layer_norm()
{
    uint i = linear_index(WG);
    if (i >= p.count) return;
    uint t = i / p.plane;
    uint pos = i - t * p.plane;
    uint xb = p.xBase + t * p.xFrame + pos;
    uint yb = p.yBase + t * p.yFrame + pos;
    float sum = 0.0;
    for (uint c = 0u; c < p.C; c++) sum += LOAD_X(xb + c * p.plane);
    float mean = sum / float(p.C);
    float sq = 0.0;
    for (uint c = 0u; c < p.C; c++)
    {
        float d = LOAD_X(xb + c * p.plane) - mean;
        sq += d * d;
    }
    float rstd = 1.0 / sqrt(sq / float(p.C) + p.eps);
    for (uint c = 0u; c < p.C; c++)
    {
        float v = (LOAD_X(xb + c * p.plane) - mean) * (rstd * LOAD_G(p.gBase + c)) + LOAD_B(p.bBase + c);
        STORE_Y(yb + c * p.plane, finish(v));
    }
}
#endif

void group_stats()
{
    uint chunk = gl_WorkGroupID.x, g = gl_WorkGroupID.y, t = gl_WorkGroupID.z;
    uint lid = gl_LocalInvocationIndex;
    uint runLen = p.cpg * p.plane;
    uint start = chunk * p.chunkLen;
    uint end = min(runLen, start + p.chunkLen);
    uint base = p.xBase + t * p.xFrame + g * runLen;
    float n = float(end - start);

    float sum = 0.0;
    for (uint e = start + lid; e < end; e += WG) sum += LOAD_X(base + e);
    sh0[lid] = sum;
    tree_sum();
    float mean = sh0[0] / n;
    barrier();
    float sq = 0.0;
    for (uint e = start + lid; e < end; e += WG)
    {
        float d = LOAD_X(base + e) - mean;
        sq += d * d;
    }
    sh0[lid] = sq;
    tree_sum();
    if (lid == 0u)
    {
        uint o = p.sBase + ((t * p.groups + g) * p.nChunks + chunk) * 3u;
        ss[o] = mean;
        ss[o + 1u] = sh0[0];
        ss[o + 2u] = n;
    }
}

void group_merge()
{
    uint g = gl_WorkGroupID.x, seg = gl_WorkGroupID.y;
    uint lid = gl_LocalInvocationIndex;
    uint t0 = p.perFrame != 0u ? seg : 0u;
    uint frames = p.perFrame != 0u ? 1u : p.T;
    uint entries = frames * p.nChunks;
    float m = 0.0, m2 = 0.0, n = 0.0;
    for (uint j = lid; j < entries; j += WG)
    {
        uint t = t0 + j / p.nChunks;
        uint ch = j - (j / p.nChunks) * p.nChunks;
        uint o = p.sBase + ((t * p.groups + g) * p.nChunks + ch) * 3u;
        merge(m, m2, n, ss[o], ss[o + 1u], ss[o + 2u]);
    }
    sh0[lid] = m;
    sh1[lid] = m2;
    sh2[lid] = n;
    for (uint s = WG / 2u; s > 0u; s >>= 1u)
    {
        barrier();
        if (lid < s)
        {
            float a = sh0[lid], a2 = sh1[lid], an = sh2[lid];
            merge(a, a2, an, sh0[lid + s], sh1[lid + s], sh2[lid + s]);
            sh0[lid] = a;
            sh1[lid] = a2;
            sh2[lid] = an;
        }
    }
    barrier();
    if (lid == 0u)
    {
        uint o = p.sBase + p.statsOff + (seg * p.groups + g) * 2u;
        ss[o] = sh0[0];
        ss[o + 1u] = 1.0 / sqrt(sh1[0] / sh2[0] + p.eps);
    }
}

void group_apply()
{
    uint i = linear_index(WG);
    if (i >= p.count) return;
    uint frameElems = p.C * p.plane;
    uint t = i / frameElems;
    uint r = i - t * frameElems;
    uint c = r / p.plane;
    uint g = c / p.cpg;
    uint seg = p.perFrame != 0u ? t : 0u;
    uint o = p.sBase + p.statsOff + (seg * p.groups + g) * 2u;
    float v = (LOAD_X(p.xBase + t * p.xFrame + r) - ss[o]) * (ss[o + 1u] * LOAD_G(p.gBase + c)) + LOAD_B(p.bBase + c);
    STORE_Y(p.yBase + t * p.yFrame + r, finish(v));
}

void main()
{
    if (MODE == 0) layer_norm();
    else if (MODE == 1) group_stats();
    else if (MODE == 2) group_merge();
    else group_apply();
}
