#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
//! variant f32
//! variant f16 FP16=1
// Attention, GPU-shaped: a workgroup owns BQ query rows of one (batch, head) and walks the keys
// in tiles of BK with an online softmax; only one BQ x BK score block ever exists.
//
// Register blocking: the 128 invocations form BQ/4 row groups of TC = 512/BQ invocations. An
// invocation owns 4 query rows (its group's) and, of every tile, the keys tc, tc+TC, ... (NK
// of them) and, of the output, the channels tc, tc+TC, ... (NC of them). So a score costs one
// broadcast vec4 load of 4 query values per 4 x NK products, and an output update one vec4 of
// probabilities per 4 x NC products, where a scalar kernel loads two values per product.
// Row max and sum meet in shared memory: every invocation of a row group reads the same
// partials in the same order, so all keep identical statistics in registers.
#include "common.glsl"

layout(local_size_x = 128) in;
const uint WG = 128, RM = 4;
layout(constant_id = 0) const uint DMAX = 64;  // largest head dim this pipeline serves (multiple of 8)
layout(constant_id = 1) const uint BQ = 64;    // query rows per workgroup: 8, 16, 32 or 64
layout(constant_id = 2) const uint BK = 64;    // keys per tile
const uint RG = BQ / RM;                       // row groups
const uint TC = WG / RG;                       // invocations per row group
const uint NK = (BK + TC - 1) / TC;            // keys per invocation per tile
const uint NC = (DMAX + TC - 1) / TC;          // output channels per invocation

layout(std430, binding = 0) readonly buffer Qb { sfp q[]; };
layout(std430, binding = 1) readonly buffer Kb { sfp k[]; };
layout(std430, binding = 2) readonly buffer Vb { sfp v[]; };
layout(std430, binding = 3) writeonly buffer Ob { sfp o[]; };
layout(push_constant) uniform P { uint tq, tk, heads, head_dim, causal; float scale_log2e; } p;

const float NEG = -3.0e38;  // masked score: exp2(NEG - m) == 0 without infinities

shared vec4 qs[DMAX * RG];                    // [d][row group]: 4 rows' query values, pre-scaled
shared float kv[DMAX * (BK + 1)];              // K tile as [d][key] (stride BK+1), then V as [key][d]
shared vec4 ps[BK * RG];                      // [key][row group]: probabilities of 4 rows
shared float red_max[BQ * TC], red_sum[BQ * TC];  // [row][tc] partial statistics

void main() {
  const uint t = gl_LocalInvocationID.x, rg = t / TC, tc = t % TC;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z, q0 = gl_WorkGroupID.x * BQ;
  const uint D = p.head_dim, C = p.heads * D, KS = BK + 1;
  const uint qbase = b * p.tq * C + h * D;  // q[b, 0, h*D] and o likewise
  const uint kbase = b * p.tk * C + h * D;  // k[b, 0, h*D] and v likewise

  // Rows past Tq repeat the last row; they are computed but never stored.
  for (uint e = t; e < BQ * D; e += WG) {
    uint i = e / D, d = e % D;
    qs[d * RG + i / RM][i % RM] = float(q[qbase + min(q0 + i, p.tq - 1) * C + d]) * p.scale_log2e;
  }
  float m[RM], l[RM], acc[RM][NC];
  [[unroll]] for (uint r = 0; r < RM; r++) {
    m[r] = NEG;
    l[r] = 0.0;
    [[unroll]] for (uint n = 0; n < NC; n++) acc[r][n] = 0.0;
  }

  const uint nk = p.causal != 0 ? min(p.tk, q0 + BQ) : p.tk;  // causal: later keys are masked for all rows
  for (uint j0 = 0; j0 < nk; j0 += BK) {
    barrier();  // the previous tile's V and probabilities are used up
    for (uint e = t; e < BK * D; e += WG) {
      uint j = e / D, d = e % D;
      kv[d * KS + j] = float(k[kbase + min(j0 + j, nk - 1) * C + d]);
    }
    barrier();
    // Scores of rows rg*4.. against keys tc + n*TC.
    float s[RM][NK];
    [[unroll]] for (uint r = 0; r < RM; r++)[[unroll]] for (uint n = 0; n < NK; n++) s[r][n] = 0.0;
    for (uint d = 0; d < D; d++) {
      vec4 qv = qs[d * RG + rg];
      [[unroll]] for (uint n = 0; n < NK; n++) {
        float kd = kv[d * KS + min(tc + n * TC, BK - 1)];
        [[unroll]] for (uint r = 0; r < RM; r++) s[r][n] += qv[r] * kd;
      }
    }
    [[unroll]] for (uint r = 0; r < RM; r++) {
      float mx = NEG;
      [[unroll]] for (uint n = 0; n < NK; n++) {
        uint jl = tc + n * TC, j = j0 + jl;
        bool masked = jl >= BK || j >= nk || (p.causal != 0 && j > q0 + rg * RM + r);
        s[r][n] = masked ? NEG : s[r][n];
        mx = max(mx, s[r][n]);
      }
      red_max[(rg * RM + r) * TC + tc] = mx;
    }
    barrier();  // partial maxima written; K reads done, so V may replace it
    for (uint e = t; e < BK * D; e += WG) {
      uint j = e / D, d = e % D;
      kv[j * DMAX + d] = float(v[kbase + min(j0 + j, nk - 1) * C + d]);
    }
    float corr[RM];
    [[unroll]] for (uint r = 0; r < RM; r++) {
      uint row = rg * RM + r;
      float mb = m[r];
      for (uint c = 0; c < TC; c++) mb = max(mb, red_max[row * TC + c]);
      corr[r] = exp2(m[r] - mb);  // rescales what was summed under the old max
      m[r] = mb;
      float sum = 0.0;
      [[unroll]] for (uint n = 0; n < NK; n++) {
        float e = s[r][n] == NEG ? 0.0 : exp2(s[r][n] - mb);
        sum += e;
        if (tc + n * TC < BK) ps[(tc + n * TC) * RG + rg][r] = e;
      }
      red_sum[row * TC + tc] = sum;
    }
    barrier();  // probabilities, partial sums and the V tile are in place
    [[unroll]] for (uint r = 0; r < RM; r++) {
      float sum = 0.0;
      for (uint c = 0; c < TC; c++) sum += red_sum[(rg * RM + r) * TC + c];
      l[r] = l[r] * corr[r] + sum;
      [[unroll]] for (uint n = 0; n < NC; n++) acc[r][n] *= corr[r];
    }
    const uint nj = min(BK, nk - j0);
    for (uint j = 0; j < nj; j++) {
      vec4 pv = ps[j * RG + rg];
      [[unroll]] for (uint n = 0; n < NC; n++) {
        float vd = kv[j * DMAX + min(tc + n * TC, DMAX - 1)];
        [[unroll]] for (uint r = 0; r < RM; r++) acc[r][n] += pv[r] * vd;
      }
    }
  }
  [[unroll]] for (uint r = 0; r < RM; r++) {
    uint row = q0 + rg * RM + r;
    if (row >= p.tq) continue;
    [[unroll]] for (uint n = 0; n < NC; n++) {
      uint c = tc + n * TC;
      if (c < D) o[qbase + row * C + c] = sfp(acc[r][n] / l[r]);
    }
  }
}
