#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

//! fp16

// Spatial 2x resampling of the decoder (docs/model.md#upsampling) on frame-major [T][C][h][w] views.
//
// MODE 0  nearest 2x per frame: y[2yy + a, 2xx + b] = x[yy, xx].
// MODE 1  temporal blend, then bilinear 2x: y[t] = bilinear2x(m), m = wa * a[t] + wb * b[t].
//
// Fixed evaluation order of MODE 1 (one formula for every frame, so streamed and whole-clip decoding are
// bit-identical; it follows PyTorch's CPU kernels with their usual FMA contraction):
//   blend      m(r, s)  = fma(a[r, s], wa, b[r, s] * wb)            (trilinear time step: w0*x0 + w1*x1)
//   per axis   PyTorch half-pixel rule, align_corners = False, scale 2, clamped:
//              output 2k:   k == 0 -> (i0, i1, w0, w1) = (0, min(1, n-1), 1, 0), else (k-1, k, 0.25, 0.75)
//              output 2k+1:           (k, min(k+1, n-1), 0.75, 0.25)
//   bilinear   top = fma(m(y0, x0), wx0, m(y0, x1) * wx1)
//              bot = fma(m(y1, x0), wx0, m(y1, x1) * wx1)
//              out = fma(top, wy0, bot * wy1)                       (PyTorch: wy0*(wx0*a + wx1*b) + wy1*(...))
// The results are declared precise so the compiler neither re-associates nor contracts differently between
// uses. With wb = 0 and wa = 1 the blend is exactly a (plain bilinear 2x); a weight 0 / 1 edge term is exact.
//
// One invocation per input cell (t, c, yy, xx) writes its 2x2 output block; it reads the 3x3 clamped
// neighbourhood it needs. Element access goes through ld_*/st_y (fp16-storage variants later).

layout(local_size_x = 32, local_size_y = 4) in;
layout(constant_id = 0) const int MODE = 0;   // 0 nearest 2x, 1 blend + bilinear 2x

layout(std430, binding = 0) readonly buffer A { ELEM a_[]; };
layout(std430, binding = 1) readonly buffer B { ELEM b_[]; };
layout(std430, binding = 2) writeonly buffer Y { ELEM y_[]; };

layout(push_constant) uniform Push {
    uint aBase, aFrame;
    uint bBase, bFrame;
    uint yBase, yFrame;
    uint C, h, w;      // input channels and size; output is 2h x 2w
    float wa, wb;
} p;

float ld_a(uint i) { return float(a_[i]); }
float ld_b(uint i) { return float(b_[i]); }
void st_y(uint i, float v) { y_[i] = ELEM(v); }

uint aOff, bOff;

float blended(uint r, uint s)
{
    uint o = r * p.w + s;
    precise float v = fma(ld_a(aOff + o), p.wa, ld_b(bOff + o) * p.wb);
    return v;
}

float bilerp(float m00, float m01, float m10, float m11, float wy0, float wy1, float wx0, float wx1)
{
    precise float top = fma(m00, wx0, m01 * wx1);
    precise float bot = fma(m10, wx0, m11 * wx1);
    precise float r = fma(top, wy0, bot * wy1);
    return r;
}

void main()
{
    // Grid: x = input column, y = input row, z = frame * C + channel (uniform per workgroup).
    uint xx = gl_GlobalInvocationID.x, yy = gl_GlobalInvocationID.y;
    if (xx >= p.w || yy >= p.h) return;
    uint z = gl_WorkGroupID.z;
    uint t = z / p.C;
    uint c = z - t * p.C;
    uint hw = p.h * p.w;
    uint pix = yy * p.w + xx;
    uint OW = 2u * p.w;
    uint ob = p.yBase + t * p.yFrame + c * (4u * hw) + (2u * yy) * OW + 2u * xx;

    if (MODE == 0) {
        float v = ld_a(p.aBase + t * p.aFrame + c * hw + pix);
        st_y(ob, v); st_y(ob + 1u, v); st_y(ob + OW, v); st_y(ob + OW + 1u, v);
        return;
    }

    aOff = p.aBase + t * p.aFrame + c * hw;
    bOff = p.bBase + t * p.bFrame + c * hw;
    uint ym = yy == 0u ? 0u : yy - 1u, yp = min(yy + 1u, p.h - 1u);
    uint xm = xx == 0u ? 0u : xx - 1u, xp = min(xx + 1u, p.w - 1u);

    // The clamped 3x3 neighbourhood, rows (ym, yy, yp) x columns (xm, xx, xp).
    vec3 r0 = vec3(blended(ym, xm), blended(ym, xx), blended(ym, xp));
    vec3 r1 = vec3(blended(yy, xm), blended(yy, xx), blended(yy, xp));
    vec3 r2 = vec3(blended(yp, xm), blended(yp, xx), blended(yp, xp));

    // Even output row 2yy: rows (ym, yy) with (0.25, 0.75), or at yy == 0 rows (0, min(1, h-1)) = (yy, yp)
    // with (1, 0). Odd row 2yy+1: rows (yy, yp) with (0.75, 0.25). Columns alike.
    bool y0 = yy == 0u, x0 = xx == 0u;
    vec3 e0 = y0 ? r1 : r0, e1 = y0 ? r2 : r1;
    float ewy0 = y0 ? 1.0 : 0.25, ewy1 = y0 ? 0.0 : 0.75;
    float ewx0 = x0 ? 1.0 : 0.25, ewx1 = x0 ? 0.0 : 0.75;
    // Column pairs: even column 2xx uses (x0 ? (.y, .z) : (.x, .y)), odd column uses (.y, .z).
    vec2 e0e = x0 ? e0.yz : e0.xy, e1e = x0 ? e1.yz : e1.xy;
    vec2 r1e = x0 ? r1.yz : r1.xy, r2e = x0 ? r2.yz : r2.xy;

    st_y(ob,           bilerp(e0e.x, e0e.y, e1e.x, e1e.y, ewy0, ewy1, ewx0, ewx1));
    st_y(ob + 1u,      bilerp(e0.y,  e0.z,  e1.y,  e1.z,  ewy0, ewy1, 0.75, 0.25));
    st_y(ob + OW,      bilerp(r1e.x, r1e.y, r2e.x, r2e.y, 0.75, 0.25, ewx0, ewx1));
    st_y(ob + OW + 1u, bilerp(r1.y,  r1.z,  r2.y,  r2.z,  0.75, 0.25, 0.75, 0.25));
}
