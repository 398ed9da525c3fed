#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Winograd F(4x4, 3x3), output transform: y tile = A^T m A for the 6x6 products m of every
// (output channel, tile) of a chunk, then the conv epilogue (bias, activation, residual).
// M is [36][cc][tc], or [36][tc][cc] when the input transform wrote V transposed.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer M { float m[]; };   // [36, cc, tc] or [36, tc, cc]
layout(std430, binding = 1) readonly buffer B { sfp bias[]; };  // [Cout] (read only with has_bias)
layout(std430, binding = 2) readonly buffer R { sfp res[]; };   // y's shape (read only with has_res)
layout(std430, binding = 3) writeonly buffer Y { sfp y[]; };    // [N, Cout, Ho, Wo]

layout(push_constant) uniform P {
  uint cout, ho, wo;
  uint tiles_y, tiles_x, tiles;
  uint c0, cc, t0, tc;  // this chunk's output channels and tiles
  uint has_bias, act, has_res;  // as conv2d_common.glsl
  uint transposed;              // M[36][tc][cc]
} p;

// A^T (4x6) applied to 6 values.
void at6(float a[6], out float o[4]) {
  float s12 = a[1] + a[2], d12 = a[1] - a[2], s34 = a[3] + a[4], d34 = a[3] - a[4];
  o[0] = a[0] + s12 + s34;
  o[1] = d12 + 2.0 * d34;
  o[2] = s12 + 4.0 * s34;
  o[3] = d12 + 8.0 * d34 + a[5];
}

void main() {
  const uint tl = gl_GlobalInvocationID.x, cl = gl_GlobalInvocationID.y, t = p.t0 + tl, co = p.c0 + cl;
  if (tl >= p.tc || t >= p.tiles || cl >= p.cc) return;
  const uint plane = p.cc * p.tc, i0 = p.transposed != 0 ? tl * p.cc + cl : cl * p.tc + tl;
  float q[4][6];  // A^T m: 4 rows of 6
  for (uint j = 0; j < 6; j++) {
    float c[6];
    for (uint i = 0; i < 6; i++) c[i] = m[(i * 6 + j) * plane + i0];
    float o[4];
    at6(c, o);
    for (uint i = 0; i < 4; i++) q[i][j] = o[i];
  }
  const uint per_image = p.tiles_y * p.tiles_x, n = t / per_image, r = t - n * per_image;
  const uint ty = r / p.tiles_x, tx = r - ty * p.tiles_x;
  const float b = p.has_bias != 0 ? float(bias[co]) : 0.0;
  for (uint i = 0; i < 4; i++) {
    float o[4];
    at6(q[i], o);
    const uint oy = ty * 4 + i;
    if (oy >= p.ho) break;
    for (uint j = 0; j < 4; j++) {
      const uint ox = tx * 4 + j;
      if (ox >= p.wo) break;
      float acc = o[j] + b;
      if (p.act == 1) acc = silu(acc);
      else if (p.act == 2) acc = gelu_erf(acc);
      else if (p.act == 3) acc = quick_gelu(acc);
      const uint yi = ((n * p.cout + co) * p.ho + oy) * p.wo + ox;
      if (p.has_res != 0) acc += float(res[yi]);
      y[yi] = sfp(acc);
    }
  }
}
