#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant f32_vec4 VEC4=1
//! variant f16_vec4 FP16=1 VEC4=1
//! variant f32_sized SIZED=1
//! variant f16_sized FP16=1 SIZED=1
// Nearest 2x upsampling: x [N,C,H,W] -> y [N,C,2H,2W]. Output row r (over all planes) reads
// input row r/2, because every plane has an even number (2H) of output rows.
// SIZED: any output size [N,C,H2,W2], reading x[floor(oy * H/H2), floor(ox * W/W2)] with the
// scales in float32, as PyTorch's F.interpolate(size=..., mode="nearest") does.
// Scalar: one invocation per output element, so neighbouring invocations write neighbouring
// bytes. VEC4 (W % 4 == 0): one invocation per 4 input elements, writing the 2x8 outputs they
// cover; 4x fewer index divisions and 16-byte loads and stores, what CPUs want.
#include "common.glsl"

layout(local_size_x = 256) in;
#ifdef VEC4
#ifdef FP16
#define sfp4 f16vec4
#else
#define sfp4 vec4
#endif
layout(std430, binding = 0) readonly buffer X { sfp4 x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp4 y[]; };
#else
layout(std430, binding = 0) readonly buffer X { sfp x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };
#endif
layout(push_constant) uniform P {
  uint n;  // scalar, SIZED: elements of y; VEC4: 4-element groups of x
  uint w;  // W of x (VEC4: in groups of 4)
  uint h, h2, w2;          // SIZED: H of x, the size of y
  float scale_h, scale_w;  // SIZED: H / H2 and W / W2 in float32
} p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
#ifdef VEC4
  uint row = i / p.w, col = i - row * p.w;
  vec4 v = vec4(x[i]);                // x[row, 4col .. 4col+3]
  uint o = 2u * row * 2u * p.w + 2u * col;  // y[2row, 8col] in groups of 4; rows are 2w groups
  y[o] = sfp4(v.xxyy);
  y[o + 1u] = sfp4(v.zzww);
  y[o + 2u * p.w] = sfp4(v.xxyy);     // the next output row repeats it
  y[o + 2u * p.w + 1u] = sfp4(v.zzww);
#elif defined(SIZED)
  const uint plane = i / (p.h2 * p.w2), r = i - plane * (p.h2 * p.w2), oy = r / p.w2, ox = r - oy * p.w2;
  const uint sy = min(uint(floor(float(oy) * p.scale_h)), p.h - 1u);
  const uint sx = min(uint(floor(float(ox) * p.scale_w)), p.w - 1u);
  y[i] = x[(plane * p.h + sy) * p.w + sx];
#else
  uint row = i / (2u * p.w), col = i - row * (2u * p.w);
  y[i] = x[(row >> 1) * p.w + (col >> 1)];
#endif
}
