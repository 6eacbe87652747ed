#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

//! variant f2: -DWINOGRAD_TILE=2
//! variant texel: -DWFVAE_TEXEL=1
//! variant texel_f2: -DWFVAE_TEXEL=1 -DWINOGRAD_TILE=2
//! fp16

#include "winograd.glsl"

// Phase 1 of the Winograd convolution (WinogradConv.cs): transforms the input tiles of a chunk.
// Invocation e = (f * cin + ci) * tiles4 + q transforms tile q (tile row row0 + q / tilesW, column q % tilesW) of input
// channel ci of virtual frame f0 + f of the sequence past ++ x (frames < pastT are past's):
//   d = the ALPHA x ALPHA inputs at rows (row0 + q / tilesW) * TILE - 1 + r, columns (q % tilesW) * TILE - 1 + s
//       (zero outside the frame: the Same padding of a 3x3 conv),
//   V[xi][ci][f * tiles4 + q] = (B^T d B)[xi]  for the ALPHA^2 points xi,
// and writes zeros for the padding tiles q >= tiles (tiles4 rounds the tiles up to a multiple of 4 for the vec4 reads of
// phase 2). V is float scratch in both precisions; inputs are ELEM (halves widen on load).
// Variants: f2 = F(2x2,3x3) (default F(4x4,3x3)); texel = inputs through R32F/R16F texel views (CPU drivers).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;

#ifdef WFVAE_TEXEL
layout(binding = 0) uniform textureBuffer pastTex;
layout(binding = 1) uniform textureBuffer xTex;
float loadPast(uint i) { return texelFetch(pastTex, int(i)).x; }
float loadX(uint i) { return texelFetch(xTex, int(i)).x; }
#else
layout(std430, binding = 0) readonly buffer Past { ELEM pastData[]; };
layout(std430, binding = 1) readonly buffer X { ELEM xData[]; };
float loadPast(uint i) { return float(pastData[i]); }
float loadX(uint i) { return float(xData[i]); }
#endif
layout(std430, binding = 2) writeonly buffer Vb { float vData[]; };

layout(push_constant) uniform Push {
    uint pastBase, pastFrame, pastT;
    uint xBase, xFrame;
    uint cin, h, w;
    uint f0, frames;          // first virtual frame of the chunk, frames transformed
    uint row0, tilesW;        // first tile row of the chunk, tiles per row
    uint tiles, tiles4;       // tiles of one frame in the chunk, rounded up to a multiple of 4
    uint vBase, vRow;         // element index of V[0][0][0]; elements between rows (xi, ci) and (xi, ci + 1)
} p;

void main()
{
    const uint e = linear_index(uint(WG));
    const uint q = e % p.tiles4;
    const uint fc = e / p.tiles4;
    if (fc >= p.frames * p.cin) return;
    const uint ci = fc % p.cin;
    const uint f = fc / p.cin;
    const uint dst = p.vBase + ci * p.vRow + f * p.tiles4 + q;   // V[0][ci][f, q]; point xi is cin * vRow further
    // Columns past the frame's tiles (padding up to a multiple of 4) transform zeros: the same stores, no second path.
    const bool tileOk = q < p.tiles;

    const uint vf = p.f0 + f;
    const bool isPast = vf < p.pastT;
    const uint hw = p.h * p.w;
    const uint frameBase = (isPast ? p.pastBase + vf * p.pastFrame : p.xBase + (vf - p.pastT) * p.xFrame) + ci * hw;
    const int y0 = int((p.row0 + q / p.tilesW) * uint(TILE)) - 1;
    const int x0 = int((q % p.tilesW) * uint(TILE)) - 1;

    float t[ALPHA][ALPHA];   // B^T applied to the columns: t[r][s] for transformed row r, input column s
    [[unroll]] for (int s = 0; s < ALPHA; s++) {
        float d[ALPHA];
        const int ix = x0 + s;
        [[unroll]] for (int r = 0; r < ALPHA; r++) {
            const int iy = y0 + r;
            const bool ok = tileOk && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
            const uint idx = ok ? frameBase + uint(iy) * p.w + uint(ix) : 0u;
            const float v = isPast ? loadPast(idx) : loadX(idx);
            d[r] = ok ? v : 0.0;
        }
        float col[ALPHA];
        winogradInputLine(d, col);
        [[unroll]] for (int r = 0; r < ALPHA; r++) t[r][s] = col[r];
    }
    [[unroll]] for (int r = 0; r < ALPHA; r++) {
        float row[ALPHA];
        winogradInputLine(t[r], row);
        [[unroll]] for (int c = 0; c < ALPHA; c++) vData[dst + uint(r * ALPHA + c) * p.cin * p.vRow] = row[c];
    }
}
