#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant f32_vec4 VEC4=1
//! variant f16_vec4 FP16=1 VEC4=1
// y = alpha * x + beta, in float32 whatever the storage. VEC4: 4 elements per invocation
// (n a multiple of 4), see binary.comp.
#include "common.glsl"

#ifdef VEC4
#ifdef FP16
#define sfp_n f16vec4
#else
#define sfp_n vec4
#endif
#define float_n vec4
#define PER_INVOCATION 4u
#else
#define sfp_n sfp
#define float_n float
#define PER_INVOCATION 1u
#endif

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { sfp_n x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp_n y[]; };
layout(push_constant) uniform P {
  uint n;
  float alpha;
  float beta;
} p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i * PER_INVOCATION >= p.n) return;
  y[i] = sfp_n(p.alpha * float_n(x[i]) + p.beta);
}
