#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// y = x.permute(perm) for up to 4 dims: one invocation per output element. The host passes
// the output shape and, for each output dim, the stride of the input dim it comes from.
#include "common.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };
layout(push_constant) uniform P {
  uint n;
  uint shape[4];       // output shape, padded in front with 1s
  uint src_stride[4];  // input stride of the dim that output dim d reads
} p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  uint rest = i, src = 0;
  for (int d = 3; d >= 0; d--) {
    uint c = rest % p.shape[d];
    rest /= p.shape[d];
    src += c * p.src_stride[d];
  }
  y[i] = x[src];
}
