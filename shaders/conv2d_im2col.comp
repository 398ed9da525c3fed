#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Patch gather for conv2d's GEMM path: col[z][k][q] = x[n0 + z][ci][oy*sh - pt + ky][ox*sw - pl + kx]
// with k = (ci*kh + ky)*kw + kx (the weight's [Cout, Cin*kh*kw] row order) and q = oy*Wo + ox,
// zero outside the image. A plain copy: nothing is rounded.
// Invocations: x along q (neighbours write neighbouring elements), y along k, z along images.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };     // [N, Cin, H, W]
layout(std430, binding = 1) writeonly buffer C { sfp col[]; };  // [nc, Cin*kh*kw, Ho*Wo]

layout(push_constant) uniform P {
  uint n0;          // first image of this chunk
  uint cin, h, w;   // input
  uint ho, wo;      // output size
  uint kh, kw, sh, sw, pt, pl;
} p;

void main() {
  const uint q = gl_GlobalInvocationID.x, k = gl_GlobalInvocationID.y, z = gl_GlobalInvocationID.z;
  const uint npix = p.ho * p.wo, kk = p.kh * p.kw, rows = p.cin * kk;
  if (q >= npix || k >= rows) return;
  const uint ci = k / kk, r = k - ci * kk, ky = r / p.kw, kx = r - ky * p.kw;
  const uint oy = q / p.wo, ox = q - oy * p.wo;
  const int iy = int(oy * p.sh + ky) - int(p.pt), ix = int(ox * p.sw + kx) - int(p.pl);
  float v = 0.0;  // float16 -> float32 -> float16 is exact
  if (iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w))
    v = float(x[(((p.n0 + z) * p.cin + ci) * p.h + uint(iy)) * p.w + uint(ix)]);
  col[(z * rows + k) * npix + q] = sfp(v);
}
