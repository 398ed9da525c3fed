#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
//! variant f32
//! variant f16 FP16=1
//! variant f32_kn KN=1
//! variant f16_kn FP16=1 KN=1
// Register-blocked matmul for CPU devices (lavapipe): each invocation keeps a TM x TN block of c
// in registers; no shared memory, no barriers. A workgroup covers TM rows, LANES * TN columns.
// Variants: b [N,K] (TRANS_B: weights as checkpoints store them, e.g. CLIP's projections) with
// 8x8 blocks; b [K,N] (_kn: nn::Linear's transposed weights, 1x1 convolutions, the Winograd
// GEMMs) with 16x4 blocks.
// Why these shapes: llvmpipe runs the LANES invocations as one SIMD vector but, inside a loop,
// reads a buffer lane by lane, a bounds-checked scalar load per lane and component (~6 x86
// instructions and a branch; GALLIVM_DEBUG=asm shows it), so loads, not FMAs, set the speed:
// hence 64-bit components carrying two floats or four halves, and a's loads shared by shuffles
// (load_a_rows), leaving TN / 8 units of b per lane per TM * TN * 8 FMAs. For b [K,N], 16x4
// blocks halve b's loads per FMA at the same 64 accumulators (the Winograd GEMMs +15-20% on
// `sdvk bench --only batched_matmul`); for b [N,K] they measured slower than 8x8. More
// accumulators (16x8) spill: 3-5x slower.
// Every loop of the k body must unroll: a loop left rolled keeps its values in memory, blended
// with the lane mask at each write. NIR's size limit left the [K,N] path's q loop rolled,
// hence [[unroll]] (+20% to +60%).
#include "common.glsl"
#include "matmul_io.glsl"

#define LANES 8
#ifdef KN
#define TM 16  // a multiple of LANES
#define TN 4   // one half unit of b [K,N] per lane
#else
#define TM 8
#define TN 8
#endif

// Vector loads read units of 8 consecutive elements (32 bytes of float, 16 of float16) along k
// for a (VEC_A) and for b [N,K] (VEC_B with TRANS_B), half units of 4 along n for b [K,N]
// (VEC_B in the _kn variants). The host enables them only when the rows hold whole units and
// the buffers start on one.
#ifdef FP16
#define UNIT u64vec2
#define HALF_UNIT uint64_t
#else
#define UNIT u64vec4
#define HALF_UNIT u64vec2
#endif
layout(std430, binding = 0) readonly buffer AU { UNIT a_u[]; };
layout(std430, binding = 1) readonly buffer BU { UNIT b_u[]; };
layout(std430, binding = 1) readonly buffer BH { HALF_UNIT b_h[]; };  // b [K,N]: 4 along n

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

// The 4 values of a half unit.
void unpack4(HALF_UNIT u, out float v[4]) {
#ifdef FP16
  uvec2 w = unpackUint2x32(u);
  vec2 lo = unpackHalf2x16(w.x), hi = unpackHalf2x16(w.y);
  v[0] = lo.x, v[1] = lo.y, v[2] = hi.x, v[3] = hi.y;
#else
  for (uint h = 0; h < 2; h++) {
    uvec2 w = unpackUint2x32(u[h]);
    v[2 * h] = uintBitsToFloat(w.x), v[2 * h + 1] = uintBitsToFloat(w.y);
  }
#endif
}

// a's units at k of the block's rows, as av[i][q]. Every lane needs all of them, but llvmpipe
// loads them lane by lane all the same, so lane i loads rows i, i + LANES, ... alone and the
// others read them from lane i by shuffle, a register move: 1/LANES of the loads (+24% to +38%
// on `sdvk bench --only batched_matmul`). Needs TM a multiple of LANES and the workgroup one
// subgroup (the host checks).
void load_a_rows(uint my_row[TM / LANES], uint k, out float av[TM][8]) {
  [[unroll]] for (uint h = 0; h < TM / LANES; h++) {
    float mine[8];
    unpack(a_u[(my_row[h] + k) / 8], mine);
    [[unroll]] for (uint i = 0; i < LANES; i++)
      [[unroll]] for (uint q = 0; q < 8; q++) av[h * LANES + i][q] = subgroupShuffle(mine[q], i);
  }
}

void main() {
  // x walks row blocks: the row blocks that share a strip of b run one after another, so the
  // strip stays in cache (llvmpipe hands out workgroups in x order).
  const uint z = gl_WorkGroupID.z, m0 = gl_WorkGroupID.x * TM;
  const uint n0 = (gl_WorkGroupID.y * LANES + gl_LocalInvocationID.x) * TN;
  uint my_row[TM / LANES];  // the rows of a this lane loads for load_a_rows
  for (uint h = 0; h < TM / LANES; h++)
    my_row[h] = z * p.sa + min(m0 + h * LANES + gl_SubgroupInvocationID, p.M - 1) * p.K;
  // Lanes past the last column stay to the end: the others read their loads of a.
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

#ifndef KN
  if (TRANS_B && VEC_A && VEC_B) {  // a [M,K], b [N,K]: units along k from both
    for (uint k = 0; k < p.K; k += 8) {
      float av[TM][8], bv[TN][8];
      load_a_rows(my_row, k, av);
      for (uint j = 0; j < TN; j++) unpack(b_u[(bcol[j] + k) / 8], bv[j]);
      for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++) {
          float s = av[i][0] * bv[j][0];
          for (uint q = 1; q < 8; q++) s = fma(av[i][q], bv[j][q], s);
          acc[i][j] += s;
        }
    }
#else
  if (!TRANS_B && VEC_A && VEC_B) {  // b [K,N]: a along k, b along n in half units
    // A half unit past the edge moves back inside the row (N % 4 == 0); its results are dropped.
    const uint bunit = z * p.sb + min(n0, p.N - 4);
    for (uint k = 0; k < p.K; k += 8) {
      float av[TM][8], s[TM][TN];
      load_a_rows(my_row, k, av);
      [[unroll]] for (uint q = 0; q < 8; q++) {
        float bv[4];
        unpack4(b_h[(bunit + (k + q) * p.N) / 4], bv);
        [[unroll]] for (uint i = 0; i < TM; i++)
          [[unroll]] for (uint j = 0; j < TN; j++)
            s[i][j] = q == 0 ? av[i][0] * bv[j] : fma(av[i][q], bv[j], s[i][j]);
      }
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] += s[i][j];
    }
#endif
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
  const uint rows = min(TM, p.M - m0), cols = n0 < p.N ? min(TN, p.N - n0) : 0;
  for (uint i = 0; i < rows; i++)
    for (uint j = 0; j < cols; j++) store_c(z * p.sc + (m0 + i) * p.N + n0 + j, m0 + i, n0 + j, out_v[i * TN + j]);
}
