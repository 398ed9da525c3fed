#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
//! variant f32
//! variant f16 FP16=1
// Shared-memory tiled matmul for GPUs: a 16x16 workgroup computes a TILE x TILE tile of c
// (TILE = 16 R), each invocation R x R outputs (rows ty + 16i, columns tx + 16j, so neighbouring
// invocations touch neighbouring addresses). K advances 16 at a time through shared a and b
// tiles. R = 8 loads 2 shared values per 8 products where R = 4 loads 2 per 4; the host takes
// R = 4 when the larger tiles would leave too few workgroups to fill a GPU.
#include "common.glsl"
#include "matmul_io.glsl"

layout(constant_id = 3) const uint R = 4;  // 4 or 8
const uint TILE = 16 * R;
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
  float acc[R][R];
  [[unroll]] for (uint i = 0; i < R; i++)
    [[unroll]] for (uint j = 0; j < R; j++) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += KSTEP) {
    // Each invocation stages R/4 quads of each tile.
    [[unroll]] for (uint s = 0; s < R / 4; s++) {
      const uint e = t + 256 * s;
      // a tile [TILE rows][16 k]: quad e is row e/4, k 4*(e%4)..+3.
      const uint r = e / 4, kq = (e % 4) * 4;
      vec4 av = a_quad(z * p.sa, m0 + r, p.M, k0 + kq, p.K);
      [[unroll]] for (uint q = 0; q < 4; q++) as_[kq + q][r] = av[q];
      if (TRANS_B) {  // b [N,K]: same pattern as a
        vec4 bv = b_quad(z * p.sb, n0 + r, p.N, k0 + kq, p.K);
        [[unroll]] for (uint q = 0; q < 4; q++) bs_[kq + q][r] = bv[q];
      } else {  // b [K,N]: quad e is k e/(TILE/4), columns 4*(e%(TILE/4))..+3
        const uint kr = e / (TILE / 4), nq = (e % (TILE / 4)) * 4;
        vec4 bv = b_quad(z * p.sb, k0 + kr, p.K, n0 + nq, p.N);
        [[unroll]] for (uint q = 0; q < 4; q++) bs_[kr][nq + q] = bv[q];
      }
    }
    barrier();
    for (uint kk = 0; kk < KSTEP; kk++) {
      float am[R], bn[R];
      [[unroll]] for (uint i = 0; i < R; i++) am[i] = as_[kk][ty + 16 * i];
      [[unroll]] for (uint j = 0; j < R; j++) bn[j] = bs_[kk][tx + 16 * j];
      [[unroll]] for (uint i = 0; i < R; i++)
        [[unroll]] for (uint j = 0; j < R; j++) acc[i][j] += am[i] * bn[j];
    }
    barrier();
  }

  [[unroll]] for (uint i = 0; i < R; i++)
    [[unroll]] for (uint j = 0; j < R; j++) {
      uint m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < p.M && n < p.N) store_c(z * p.sc + m * p.N + n, n, acc[i][j]);
    }
}
