#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
//! variant f32
//! variant f16 FP16=1
// Register-blocked matmul for CPU devices (lavapipe): each invocation keeps a TM x TN block of c
// in registers; no shared memory, no barriers. A workgroup covers TM rows, LANES * TN columns.
// Why this shape: llvmpipe runs the LANES invocations as one SIMD vector but reads a buffer
// lane by lane, a bounds-checked scalar load per component (~12 x86 instructions), so loads,
// not FMAs, set the speed: hence 64-bit components carrying two floats or four halves, and a
// block of TM + TN loads per TM * TN FMAs. Measured on lavapipe (M=4096, K=320, N=320, f32):
// 8x8 56 ms CPU, 16x8 63, 16x16 65 (fewer instructions, but spills), 4x8 75; bigger blocks
// also compile much slower (16x16: 4x the time of 8x8).
#include "common.glsl"
#include "matmul_io.glsl"

#define TM 8
#define TN 8  // a multiple of 8
#define LANES 8

// Vector loads read units of 8 consecutive elements (32 bytes of float, 16 of float16): along
// k for a (VEC_A) and for b [N,K] (VEC_B with TRANS_B), along n for b [K,N] (VEC_B alone).
// The host enables them only when the rows hold whole units and the buffers start on one.
#ifdef FP16
#define UNIT u64vec2
#else
#define UNIT u64vec4
#endif
layout(std430, binding = 0) readonly buffer AU { UNIT a_u[]; };
layout(std430, binding = 1) readonly buffer BU { UNIT b_u[]; };

layout(local_size_x = LANES) in;

// The 8 values of a unit in memory order (little-endian: the low half of a word comes first).
void unpack(UNIT u, out float v[8]) {
#ifdef FP16
  for (uint h = 0; h < 2; h++) {
    uvec2 w = unpackUint2x32(u[h]);
    vec2 lo = unpackHalf2x16(w.x), hi = unpackHalf2x16(w.y);
    v[4 * h] = lo.x, v[4 * h + 1] = lo.y, v[4 * h + 2] = hi.x, v[4 * h + 3] = hi.y;
  }
#else
  for (uint h = 0; h < 4; h++) {
    uvec2 w = unpackUint2x32(u[h]);
    v[2 * h] = uintBitsToFloat(w.x), v[2 * h + 1] = uintBitsToFloat(w.y);
  }
#endif
}

void main() {
  const uint z = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * TM, n0 = gl_GlobalInvocationID.x * TN;
  if (n0 >= p.N) return;
  // Rows and columns past the edge read the last valid one (no branches in the k loop) and are
  // not stored. Offsets in elements.
  uint arow[TM], bcol[TN];
  for (uint i = 0; i < TM; i++) arow[i] = z * p.sa + min(m0 + i, p.M - 1) * p.K;
  for (uint j = 0; j < TN; j++) bcol[j] = z * p.sb + min(n0 + j, p.N - 1) * (TRANS_B ? p.K : 1);
  float acc[TM][TN];
  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;
  // llvmpipe blends every write of a loop-carried value with the loop mask, so the vector paths
  // sum the 8 products of a unit first and write acc once per unit.

  if (TRANS_B && VEC_A && VEC_B) {  // a [M,K], b [N,K]: units along k from both
    for (uint k = 0; k < p.K; k += 8) {
      float av[TM][8], bv[TN][8];
      for (uint i = 0; i < TM; i++) unpack(a_u[(arow[i] + k) / 8], av[i]);
      for (uint j = 0; j < TN; j++) unpack(b_u[(bcol[j] + k) / 8], bv[j]);
      for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++) {
          float s = av[i][0] * bv[j][0];
          for (uint q = 1; q < 8; q++) s = fma(av[i][q], bv[j][q], s);
          acc[i][j] += s;
        }
    }
  } else if (!TRANS_B && VEC_A && VEC_B) {  // b [K,N]: a along k, b along n
    // A unit past the edge moves back inside the row (N % 8 == 0); its results are dropped.
    uint bunit[TN / 8];
    for (uint u = 0; u < TN / 8; u++) bunit[u] = z * p.sb + min(n0 + 8 * u, p.N - 8);
    for (uint k = 0; k < p.K; k += 8) {
      float av[TM][8], s[TM][TN];
      for (uint i = 0; i < TM; i++) unpack(a_u[(arow[i] + k) / 8], av[i]);
      for (uint q = 0; q < 8; q++) {
        float bv[TN / 8][8];
        for (uint u = 0; u < TN / 8; u++) unpack(b_u[(bunit[u] + (k + q) * p.N) / 8], bv[u]);
        for (uint i = 0; i < TM; i++)
          for (uint j = 0; j < TN; j++)
            s[i][j] = q == 0 ? av[i][0] * bv[j / 8][j % 8] : fma(av[i][q], bv[j / 8][j % 8], s[i][j]);
      }
      for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++) acc[i][j] += s[i][j];
    }
  } else {  // any K, N and alignment: scalar loads
    const uint bstep = TRANS_B ? 1 : p.N;
    for (uint k = 0; k < p.K; k++) {
      float av[TM], bv[TN];
      for (uint i = 0; i < TM; i++) av[i] = float(a[arow[i] + k]);
      for (uint j = 0; j < TN; j++) bv[j] = float(b[bcol[j] + k * bstep]);
      for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
  }

  // The epilogue runs as a loop with run-time bounds, which the compiler cannot unroll: its
  // activation code then exists once, not TM * TN times (compile time on llvmpipe).
  float out_v[TM * TN];
  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++) out_v[i * TN + j] = acc[i][j];
  const uint rows = min(TM, p.M - m0), cols = min(TN, p.N - n0);
  for (uint i = 0; i < rows; i++)
    for (uint j = 0; j < cols; j++) store_c(z * p.sc + (m0 + i) * p.N + n0 + j, n0 + j, out_v[i * TN + j]);
}
