#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

//! variant f2: -DWINOGRAD_TILE=2
//! variant texel: -DWFVAE_TEXEL=1
//! variant texel_f2: -DWFVAE_TEXEL=1 -DWINOGRAD_TILE=2
//! fp16

#include "winograd.glsl"

// Phase 3 of the Winograd convolution (WinogradConv.cs): the inverse transform and the epilogue.
// Invocation e = (t * cout + co) * (tiles4 / 4) + g turns the ALPHA^2 products M[xi][co][t * tiles4 + q] of the tiles
// q = 4g .. 4g + 3 of output frame t into their TILE x TILE outputs Y = A^T M A, adds the bias (and the residual) and
// stores the outputs that lie inside the frame (the last tile row and column may be partial; padding tiles q >= tiles
// store nothing) into the output view, which may be a channel slice or a frame range of a larger tensor. Four tiles per
// invocation so that each point's four products arrive as one vec4 read (M: mBase and n multiples of 4). Variants as
// in winograd_input.comp.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;

#ifdef WFVAE_TEXEL
// Every operand read through texel views (CPU drivers: gathers instead of per-lane loops). The residual may be y's own
// block: each output is read, then written, by the one invocation that owns it.
layout(binding = 0) uniform samplerBuffer mTex;      // RGBA32F view of the M scratch
layout(binding = 1) uniform samplerBuffer biasTex;   // R32F (R16F) view of the conv's bias (ConvWeights.Packed)
layout(binding = 2) uniform samplerBuffer resTex;
vec4 loadM4(uint i) { return texelFetch(mTex, int(i)); }
float loadBias(uint i) { return texelFetch(biasTex, int(i)).x; }
float loadRes(uint i) { return texelFetch(resTex, int(i)).x; }
#else
layout(std430, binding = 0) readonly buffer Mb { vec4 mData4[]; };
layout(std430, binding = 1) readonly buffer Bias { ELEM biasData[]; };   // the conv's bias (ConvWeights.Packed)
layout(std430, binding = 2) readonly buffer Res { ELEM resData[]; };
vec4 loadM4(uint i) { return mData4[i]; }
float loadBias(uint i) { return float(biasData[i]); }
float loadRes(uint i) { return float(resData[i]); }
#endif
layout(std430, binding = 3) buffer Y { ELEM yData[]; };

layout(push_constant) uniform Push {
    uint mBase, n;            // element index of M[0][0][0]; columns of M (rows (xi, co) are n apart)
    uint cout, frames;        // output channels, output frames of the chunk
    uint row0, tilesW;        // first tile row of the chunk, tiles per row
    uint tiles, tiles4;       // tiles of one frame in the chunk, rounded up to a multiple of 4
    uint ho, wo;
    uint yBase, yFrame;
    uint rBase, rFrame, hasRes;
    uint biasBase;            // element index of bias[0] in biasData; ~0u: no bias
} p;

// A^T m A of one tile's products, + bias (+ residual), stored where the outputs lie inside the frame.
void storeTile(uint q, uint t, uint co, float bias, in float m[ALPHA][ALPHA])
{
    float u[ALPHA][TILE];   // A^T applied to the rows of M: u[r][j] for product row r, output column j
    [[unroll]] for (int r = 0; r < ALPHA; r++) {
        float o[TILE];
        winogradOutputLine(m[r], o);
        [[unroll]] for (int j = 0; j < TILE; j++) u[r][j] = o[j];
    }
    const uint oy0 = (p.row0 + q / p.tilesW) * uint(TILE);
    const uint ox0 = (q % p.tilesW) * uint(TILE);
    const uint plane = p.ho * p.wo;
    [[unroll]] for (int j = 0; j < TILE; j++) {
        float col[ALPHA];
        [[unroll]] for (int r = 0; r < ALPHA; r++) col[r] = u[r][j];
        float o[TILE];
        winogradOutputLine(col, o);
        const uint ox = ox0 + uint(j);
        [[unroll]] for (int i = 0; i < TILE; i++) {
            const uint oy = oy0 + uint(i);
            if (oy >= p.ho || ox >= p.wo) continue;
            const uint r = co * plane + oy * p.wo + ox;
            float v = o[i];
            if (p.biasBase != 0xFFFFFFFFu) v += bias;
            if (p.hasRes != 0u) v += loadRes(p.rBase + t * p.rFrame + r);
            yData[p.yBase + t * p.yFrame + r] = ELEM(v);
        }
    }
}

void main()
{
    const uint e = linear_index(uint(WG));
    const uint groups = p.tiles4 / 4u;
    const uint g = e % groups;
    const uint tc = e / groups;
    if (tc >= p.frames * p.cout) return;
    const uint co = tc % p.cout;
    const uint t = tc / p.cout;
    const uint src4 = (p.mBase + co * p.n + t * p.tiles4) / 4u + g;   // M[0][co][t, 4g]; point xi is cout * n further
    const uint point4 = p.cout * p.n / 4u;

    float m[4][ALPHA][ALPHA];
    [[unroll]] for (int xi = 0; xi < ALPHA * ALPHA; xi++) {
        const vec4 v = loadM4(src4 + uint(xi) * point4);
        [[unroll]] for (int j = 0; j < 4; j++) m[j][xi / ALPHA][xi % ALPHA] = v[j];
    }
    const float bias = p.biasBase != 0xFFFFFFFFu ? loadBias(p.biasBase + co) : 0.0;
    [[unroll]] for (int j = 0; j < 4; j++)
        if (4u * g + uint(j) < p.tiles) storeTile(4u * g + uint(j), t, co, bias, m[j]);
}
