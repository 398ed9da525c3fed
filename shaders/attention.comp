#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
//! variant f32
//! variant f16 FP16=1
// Attention, GPU-shaped: a workgroup owns BQ query rows of one (batch, head). Per tile of BK
// keys it stages K in shared memory, computes the BQ x BK scores, updates each row's running
// max and sum (online softmax), then stages V in the same space and accumulates P V. Only this
// score block ever exists; each invocation keeps NS scores and NACC (row, channel)
// accumulators in registers. The head dim D is a push constant; shared tiles are sized for
// DMAX >= D, so one pipeline serves a range of head dims.
#include "common.glsl"

layout(local_size_x = 128) in;
const uint WG = 128;
layout(constant_id = 0) const uint DMAX = 64;  // largest head dim this pipeline serves
layout(constant_id = 1) const uint BQ = 32;    // query rows per workgroup (<= WG)
layout(constant_id = 2) const uint BK = 32;    // keys per tile
const uint NACC = (BQ * DMAX + WG - 1) / WG;   // output elements per invocation
const uint NS = (BQ * BK + WG - 1) / WG;       // scores per invocation per tile

layout(std430, binding = 0) readonly buffer Qb { sfp q[]; };
layout(std430, binding = 1) readonly buffer Kb { sfp k[]; };
layout(std430, binding = 2) readonly buffer Vb { sfp v[]; };
layout(std430, binding = 3) writeonly buffer Ob { sfp o[]; };
layout(push_constant) uniform P { uint tq, tk, heads, head_dim, causal; float scale_log2e; } p;

const float NEG = -3.0e38;  // masked score: exp2(NEG - m) == 0 without infinities

// Shared rows have stride D + 1: an odd stride spreads a column over all banks.
shared float qs[BQ * (DMAX + 1)];   // [BQ, D] query rows pre-scaled by scale*log2(e)
shared float kvs[BK * (DMAX + 1)];  // [BK, D] the K tile, then the V tile
shared float ps[BQ * BK];           // [BQ, BK] scores, then probabilities
shared float row_m[BQ], row_l[BQ], row_corr[BQ];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  uint q0 = gl_WorkGroupID.x * BQ;
  uint D = p.head_dim, DP = D + 1, C = p.heads * D;
  uint qbase = b * p.tq * C + h * D;  // q[b, 0, h*D] and o likewise
  uint kbase = b * p.tk * C + h * D;  // k[b, 0, h*D] and v likewise

  // Rows past Tq repeat the last row; they are computed but never stored.
  for (uint e = t; e < BQ * D; e += WG) {
    uint i = e / D, d = e % D;
    qs[i * DP + d] = float(q[qbase + min(q0 + i, p.tq - 1) * C + d]) * p.scale_log2e;
  }
  if (t < BQ) {
    row_m[t] = NEG;
    row_l[t] = 0.0;
  }
  // This invocation's scores are ps elements t + n*WG = (row, key) pairs; its outputs are
  // elements t + n*WG of the [BQ, D] block. Out-of-range ones are clamped and never used.
  uint s_row[NS], s_key[NS], a_row[NACC], a_ch[NACC];
  [[unroll]] for (uint n = 0; n < NS; n++) {
    uint e = min(t + n * WG, BQ * BK - 1);
    s_row[n] = e / BK;
    s_key[n] = e % BK;
  }
  [[unroll]] for (uint n = 0; n < NACC; n++) {
    uint e = min(t + n * WG, BQ * D - 1);
    a_row[n] = e / D;
    a_ch[n] = e % D;
  }
  float acc[NACC];
  [[unroll]] for (uint n = 0; n < NACC; n++) acc[n] = 0.0;

  uint nk = p.causal != 0 ? min(p.tk, q0 + BQ) : p.tk;  // causal: later keys are masked for all rows
  for (uint j0 = 0; j0 < nk; j0 += BK) {
    barrier();  // the previous tile's V and probabilities are used up
    for (uint e = t; e < BK * D; e += WG) {
      uint j = e / D, d = e % D;
      kvs[j * DP + d] = float(k[kbase + min(j0 + j, nk - 1) * C + d]);
    }
    barrier();
    float sc[NS];
    [[unroll]] for (uint n = 0; n < NS; n++) sc[n] = 0.0;
    for (uint d = 0; d < D; d++)
      [[unroll]] for (uint n = 0; n < NS; n++) sc[n] += qs[s_row[n] * DP + d] * kvs[s_key[n] * DP + d];
    [[unroll]] for (uint n = 0; n < NS; n++) {
      uint j = j0 + s_key[n];
      bool masked = j >= nk || (p.causal != 0 && j > q0 + s_row[n]);
      if (t + n * WG < BQ * BK) ps[t + n * WG] = masked ? NEG : sc[n];
    }
    barrier();
    // Row statistics while every invocation stages V over the K tile.
    if (t < BQ) {
      float m_old = row_m[t], mb = m_old;
      for (uint j = 0; j < BK; j++) mb = max(mb, ps[t * BK + j]);
      float sum = 0.0;
      for (uint j = 0; j < BK; j++) {
        float e = exp2(ps[t * BK + j] - mb);
        ps[t * BK + j] = e;
        sum += e;
      }
      float corr = exp2(m_old - mb);  // rescales what was summed under the old max
      row_m[t] = mb;
      row_l[t] = row_l[t] * corr + sum;
      row_corr[t] = corr;
    }
    for (uint e = t; e < BK * D; e += WG) {
      uint j = e / D, d = e % D;
      kvs[j * DP + d] = float(v[kbase + min(j0 + j, nk - 1) * C + d]);
    }
    barrier();
    [[unroll]] for (uint n = 0; n < NACC; n++) acc[n] *= row_corr[a_row[n]];
    for (uint j = 0; j < BK; j++)
      [[unroll]] for (uint n = 0; n < NACC; n++) acc[n] += ps[a_row[n] * BK + j] * kvs[j * DP + a_ch[n]];
  }
  [[unroll]] for (uint n = 0; n < NACC; n++) {
    uint e = t + n * WG, i = a_row[n];
    if (e < BQ * D && q0 + i < p.tq) o[qbase + (q0 + i) * C + a_ch[n]] = sfp(acc[n] / row_l[i]);
  }
}
