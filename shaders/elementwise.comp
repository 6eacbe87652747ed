#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

//! fp16

// Elementwise operators on [T][C][H][W] views: y = a + b, y = silu(a), y = a (strided copy, which is how
// channel concat writes into a slice), y = a * scale + b. The operator is a specialization constant.
// Grid: x covers the H*W plane, y the channel, z the frame, so no invocation divides.

layout(local_size_x = 256) in;
layout(constant_id = 0) const int OP = 0; // 0 add, 1 silu, 2 copy, 3 axpy (y = a * scale + b)

layout(std430, binding = 0) readonly buffer A { ELEM a[]; };
layout(std430, binding = 1) readonly buffer B { ELEM b[]; };
layout(std430, binding = 2) buffer Y { ELEM y[]; };

layout(push_constant) uniform Push {
    uint aBase, aFrame;
    uint bBase, bFrame;
    uint yBase, yFrame;
    uint plane;      // H * W
    uint unused;
    float scale;
} p;

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i >= p.plane) return;
    uint r = gl_WorkGroupID.y * p.plane + i;
    uint t = gl_WorkGroupID.z;
    float va = float(a[p.aBase + t * p.aFrame + r]);
    float v;
    if (OP == 0) v = va + float(b[p.bBase + t * p.bFrame + r]);
    else if (OP == 1) v = silu(va);
    else if (OP == 2) v = va;
    else v = va * p.scale + float(b[p.bBase + t * p.bFrame + r]);
    y[p.yBase + t * p.yFrame + r] = ELEM(v);
}
