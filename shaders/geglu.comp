#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// GEGLU: x [rows, 2N] -> y [rows, N], y = hidden * gelu_erf(gate), hidden = x[:, :N],
// gate = x[:, N:]. One invocation per output element.
#include "common.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };
layout(push_constant) uniform P {
  uint n;     // elements of y
  uint cols;  // N
} p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  uint row = i / p.cols, col = i - row * p.cols;
  uint base = row * 2u * p.cols + col;  // hidden at base, gate at base + N
  float hidden = float(x[base]), gate = float(x[base + p.cols]);
  y[i] = sfp(hidden * gelu_erf(gate));
}
