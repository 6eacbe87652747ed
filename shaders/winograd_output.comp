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
// Invocation e = (t * cout + co) * tiles + q turns the ALPHA^2 products M[xi][co][t * tiles4 + q] of tile q of output
// frame t into its TILE x TILE outputs Y = A^T M A, adds the bias (and the residual) and stores the outputs that lie
// inside the frame (the last tile row and column may be partial) into the output view, which may be a channel slice
// or a frame range of a larger tensor. Variants as in winograd_input.comp.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;

#ifdef WFVAE_TEXEL
layout(binding = 0) uniform textureBuffer mTex;   // R32F view of the M scratch
float loadM(uint i) { return texelFetch(mTex, int(i)).x; }
#else
layout(std430, binding = 0) readonly buffer Mb { float mData[]; };
float loadM(uint i) { return mData[i]; }
#endif
layout(std430, binding = 1) readonly buffer Bias { ELEM biasData[]; };   // the conv's bias (ConvWeights.Packed)
layout(std430, binding = 2) readonly buffer Res { ELEM resData[]; };
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

void main()
{
    const uint e = linear_index(uint(WG));
    const uint q = e % p.tiles;
    const uint tc = e / p.tiles;
    if (tc >= p.frames * p.cout) return;
    const uint co = tc % p.cout;
    const uint t = tc / p.cout;
    const uint src = p.mBase + co * p.n + t * p.tiles4 + q;   // M[0][co][t, q]; point xi is cout * n further

    float u[ALPHA][TILE];   // A^T applied to the rows of M: u[r][j] for product row r, output column j
    [[unroll]] for (int r = 0; r < ALPHA; r++) {
        float m[ALPHA];
        [[unroll]] for (int c = 0; c < ALPHA; c++) m[c] = loadM(src + uint(r * ALPHA + c) * p.cout * p.n);
        float o[TILE];
        winogradOutputLine(m, o);
        [[unroll]] for (int j = 0; j < TILE; j++) u[r][j] = o[j];
    }
    const float bias = p.biasBase != 0xFFFFFFFFu ? float(biasData[p.biasBase + co]) : 0.0;
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
            if (p.hasRes != 0u) v += float(resData[p.rBase + t * p.rFrame + r]);
            yData[p.yBase + t * p.yFrame + r] = ELEM(v);
        }
    }
}
