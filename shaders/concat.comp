#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant block BLOCK=1
// One input of torch.cat: x viewed as [outer, cols] goes to columns [y_first, y_first + cols)
// of y viewed as [outer, y_cols]. One invocation per element of x, or, in the BLOCK variant,
// per 64-byte block, copied as four uvec4 (a plain copy, so any storage type; the host uses it
// when every row and offset is a whole number of blocks). On lavapipe the per-invocation index
// work costs more than the bytes: 64 bytes per invocation copy ~4x faster than 4 bytes.
#include "common.glsl"

#ifdef BLOCK
#define elem uvec4
#else
#define elem sfp
#endif

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { elem x[]; };
layout(std430, binding = 1) writeonly buffer Y { elem y[]; };
layout(push_constant) uniform P {  // counted in elements, or 64-byte blocks
  uint n;        // size of x
  uint cols;     // x's row width: size(dim) * inner
  uint y_cols;   // y's row width
  uint y_first;  // first column of y that x fills
} p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  uint row = i / p.cols, col = i - row * p.cols;
  uint o = row * p.y_cols + p.y_first + col;
#ifdef BLOCK
  for (uint k = 0u; k < 4u; k++) y[4u * o + k] = x[4u * i + k];
#else
  y[o] = x[i];
#endif
}
