#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// y[r, :] = table[ids[r], :]: token embedding lookup. ids are float32 holding exact integers
// (every vocabulary is far below 2^24); an id outside the table writes NaN, which the stage's
// NaN check reports instead of reading out of bounds.
#include "common.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Ids { float ids[]; };
layout(std430, binding = 1) readonly buffer Table { sfp table[]; };
layout(std430, binding = 2) writeonly buffer Y { sfp y[]; };
layout(push_constant) uniform P { uint rows; uint width; uint vocab; } p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.rows * p.width) return;
  uint r = i / p.width, c = i % p.width;
  float id = ids[r];
  if (id < 0.0 || id >= float(p.vocab) || id != floor(id)) {
    y[i] = sfp(uintBitsToFloat(0x7fc00000u));
    return;
  }
  y[i] = table[uint(id) * p.width + c];
}
