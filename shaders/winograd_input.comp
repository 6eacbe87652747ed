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
// Invocation e = (f * cin + ci) * tiles4 / G + q / G transforms tiles q .. q + G - 1 (G = 1; 4 in the texel variants), tile
// q lying in tile row row0 + q / tilesW, column q % tilesW, of input channel ci of virtual frame f0 + f of the sequence
// past ++ x (frames < pastT are past's):
//   d = the ALPHA x ALPHA inputs at rows (row0 + q / tilesW) * TILE - 1 + r, columns (q % tilesW) * TILE - 1 + s
//       (zero outside the frame: the Same padding of a 3x3 conv),
//   V[xi][ci][f * tiles4 + q] = (B^T d B)[xi]  for the ALPHA^2 points xi,
// and writes zeros for the padding tiles q >= tiles (tiles4 rounds the tiles up to a multiple of 4 for the vec4 reads of
// phase 2). V is float scratch in both precisions; inputs are ELEM (halves widen on load).
// Variants: f2 = F(2x2,3x3) (default F(4x4,3x3)); texel = inputs through R32F/R16F texel views (CPU drivers), and 4
// consecutive tiles per invocation so that V is written as vec4s: a storage-buffer store is a loop over the SIMD lanes
// on llvmpipe, and a vec4 costs about what a scalar does (WinogradConv.TexelTileGroup). Each tile's arithmetic is the
// same either way.

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
#ifdef WFVAE_TEXEL
layout(std430, binding = 2) writeonly buffer Vb { vec4 vData[]; };   // 4 consecutive tiles per store (see main)
#else
layout(std430, binding = 2) writeonly buffer Vb { float vData[]; };
#endif

layout(push_constant) uniform Push {
    uint pastBase, pastFrame, pastT;
    uint xBase, xFrame;
    uint cin, h, w;
    uint f0, frames;          // first virtual frame of the chunk, frames transformed
    uint row0, tilesW;        // first tile row of the chunk, tiles per row
    uint tiles, tiles4;       // tiles of one frame in the chunk, rounded up to a multiple of 4
    uint vBase, vRow;         // element index of V[0][0][0]; elements between rows (xi, ci) and (xi, ci + 1)
} p;

// The ALPHA^2 transformed values B^T d B of tile q of one channel of one frame (frameBase: its element 0), d being the
// tile's inputs with zeros outside the frame and for the padding tiles q >= tiles.
void transformTile(uint q, bool isPast, uint frameBase, out float o[ALPHA * ALPHA])
{
    const bool tileOk = q < p.tiles;
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
        [[unroll]] for (int c = 0; c < ALPHA; c++) o[r * ALPHA + c] = row[c];
    }
}

void main()
{
#ifdef WFVAE_TEXEL
    const uint group = 4u;   // tiles per invocation
#else
    const uint group = 1u;
#endif
    const uint e = linear_index(uint(WG));
    const uint perFrame = p.tiles4 / group;
    const uint q = (e % perFrame) * group;
    const uint fc = e / perFrame;
    if (fc >= p.frames * p.cin) return;
    const uint ci = fc % p.cin;
    const uint f = fc / p.cin;
    const uint dst = p.vBase + ci * p.vRow + f * p.tiles4 + q;   // V[0][ci][f, q]; point xi is cin * vRow further
    const uint vf = p.f0 + f;
    const bool isPast = vf < p.pastT;
    const uint frameBase = (isPast ? p.pastBase + vf * p.pastFrame : p.xBase + (vf - p.pastT) * p.xFrame) + ci * p.h * p.w;
#ifdef WFVAE_TEXEL
    float o0[ALPHA * ALPHA], o1[ALPHA * ALPHA], o2[ALPHA * ALPHA], o3[ALPHA * ALPHA];
    transformTile(q, isPast, frameBase, o0);
    transformTile(q + 1u, isPast, frameBase, o1);
    transformTile(q + 2u, isPast, frameBase, o2);
    transformTile(q + 3u, isPast, frameBase, o3);
    [[unroll]] for (int i = 0; i < ALPHA * ALPHA; i++) vData[(dst + uint(i) * p.cin * p.vRow) / 4u] = vec4(o0[i], o1[i], o2[i], o3[i]);
#else
    float o[ALPHA * ALPHA];
    transformTile(q, isPast, frameBase, o);
    [[unroll]] for (int i = 0; i < ALPHA * ALPHA; i++) vData[dst + uint(i) * p.cin * p.vRow] = o[i];
#endif
}
