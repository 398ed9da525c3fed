#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// y[i] = f(x[i]) for the activation chosen by constant OP: 0 SiLU, 1 GELU (erf), 2 quick_gelu.
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  float v = float(x[i]);
  float r = OP == 0 ? silu(v) : OP == 1 ? gelu_erf(v) : quick_gelu(v);
  y[i] = sfp(r);
}
