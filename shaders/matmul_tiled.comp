#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Shared-memory tiled matmul for GPUs: a 16x16 workgroup computes a 64x64 tile of c, each
// invocation 4x4 outputs (rows ty + 16i, columns tx + 16j, so neighbouring invocations touch
// neighbouring addresses). K advances 16 at a time through shared a and b tiles.
#include "common.glsl"
#include "matmul_io.glsl"

#define TILE 64
#define KSTEP 16

#ifdef FP16
#define sfpvec4 f16vec4
#else
#define sfpvec4 vec4
#endif
// vec4 views of a and b, used when the host found the rows and buffers 4-element aligned.
layout(std430, binding = 0) readonly buffer A4 { sfpvec4 a4[]; };
layout(std430, binding = 1) readonly buffer B4 { sfpvec4 b4[]; };

layout(local_size_x = 16, local_size_y = 16) in;

shared float as_[KSTEP][TILE];  // [k][m]
shared float bs_[KSTEP][TILE];  // [k][n]

// Four consecutive elements, from column `col` on, of row `row` of a matrix [rows, len] at
// element `off` of a (or b); zero past the edges, where a zero adds nothing to the sum. With
// `vec`, col and len are multiples of 4 and the buffer start is 4-element aligned.
vec4 a_quad(uint off, uint row, uint rows, uint col, uint len) {
  vec4 v = vec4(0.0);
  if (row >= rows || col >= len) return v;
  uint i = off + row * len + col;
  if (VEC_A) return vec4(a4[i / 4]);
  for (uint t = 0; t < 4; t++)
    if (col + t < len) v[t] = float(a[i + t]);
  return v;
}

vec4 b_quad(uint off, uint row, uint rows, uint col, uint len) {
  vec4 v = vec4(0.0);
  if (row >= rows || col >= len) return v;
  uint i = off + row * len + col;
  if (VEC_B) return vec4(b4[i / 4]);
  for (uint t = 0; t < 4; t++)
    if (col + t < len) v[t] = float(b[i + t]);
  return v;
}

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, t = ty * 16 + tx;
  const uint z = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * TILE, n0 = gl_WorkGroupID.x * TILE;
  float acc[4][4];
  for (uint i = 0; i < 4; i++)
    for (uint j = 0; j < 4; j++) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += KSTEP) {
    // a tile [64 rows][16 k]: invocation t loads row t/4, k 4*(t%4)..+3.
    const uint r = t / 4, kq = (t % 4) * 4;
    vec4 av = a_quad(z * p.sa, m0 + r, p.M, k0 + kq, p.K);
    for (uint q = 0; q < 4; q++) as_[kq + q][r] = av[q];
    if (TRANS_B) {  // b [N,K]: same pattern as a
      vec4 bv = b_quad(z * p.sb, n0 + r, p.N, k0 + kq, p.K);
      for (uint q = 0; q < 4; q++) bs_[kq + q][r] = bv[q];
    } else {  // b [K,N]: invocation t loads k t/16, columns 4*(t%16)..+3
      const uint kr = t / 16, nq = (t % 16) * 4;
      vec4 bv = b_quad(z * p.sb, k0 + kr, p.K, n0 + nq, p.N);
      for (uint q = 0; q < 4; q++) bs_[kr][nq + q] = bv[q];
    }
    barrier();
    for (uint kk = 0; kk < KSTEP; kk++) {
      float am[4], bn[4];
      for (uint i = 0; i < 4; i++) am[i] = as_[kk][ty + 16 * i];
      for (uint j = 0; j < 4; j++) bn[j] = bs_[kk][tx + 16 * j];
      for (uint i = 0; i < 4; i++)
        for (uint j = 0; j < 4; j++) acc[i][j] += am[i] * bn[j];
    }
    barrier();
  }

  for (uint i = 0; i < 4; i++)
    for (uint j = 0; j < 4; j++) {
      uint m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < p.M && n < p.N) store_c(z * p.sc + m * p.N + n, m, n, acc[i][j]);
    }
}
