#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant cpu_f32 CPU=1
//! variant cpu_f16 CPU=1 FP16=1
// torch.nn.GroupNorm, optionally followed by SiLU, on x [N, C, S] (S = the flattened trailing
// dims). Channels [g*Cg, (g+1)*Cg) of sample n form one contiguous row of Cg*S values: one
// workgroup per row (n, g), looping over it, so any row length works.
#include "common.glsl"

layout(constant_id = 1) const bool SILU = false;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };      // [N, C, S]
layout(std430, binding = 1) readonly buffer G { sfp gamma[]; };  // [C]
layout(std430, binding = 2) readonly buffer B { sfp beta[]; };   // [C]
layout(std430, binding = 3) writeonly buffer Y { sfp y[]; };     // [N, C, S]
layout(push_constant) uniform P {
  uint rows;  // N * groups
  uint groups;
  uint cg;    // channels per group
  uint s;     // spatial size
  float eps;
} p;

#include "norm_stats.glsl"

struct Row {
  uint base, len;
  RowStats st;
};

// Writes row element i, which is channel c at spatial sp, then moves (c, sp) on by one
// workgroup stride (dc channels and ds positions): no division per element.
void emit(Row r, uint i, inout uint c, inout uint sp, uint dc, uint ds) {
  if (i < r.len) {
    float v = normalised(float(x[r.base + i]), r.st) * float(gamma[c]) + float(beta[c]);
    y[r.base + i] = sfp(SILU ? silu(v) : v);
  }
  c += dc;
  sp += ds;
  if (sp >= p.s) {
    sp -= p.s;
    c++;
  }
}

// Writes element sp of a channel starting at x[at], given a = rstd * gamma[c] and b = beta[c].
void emit_channel(uint at, uint sp, RowStats st, float a, float b) {
  if (sp < p.s) {
    float v = ((float(x[at + sp]) - st.shift) - st.mean) * a + b;
    y[at + sp] = sfp(SILU ? silu(v) : v);
  }
}

void main() {
  uint row = gl_WorkGroupID.x;  // n * groups + g
  if (row >= p.rows) return;     // the whole workgroup leaves together
  Row r;
  r.len = p.cg * p.s;
  r.base = row * r.len;
  r.st = row_stats(r.base, r.len, p.eps);

  uint l = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x, c0 = (row % p.groups) * p.cg;
#ifdef CPU
  if (p.s >= 4 * wg) {
    // Channel by channel: gamma[c] and beta[c] are the same for every invocation, one scalar
    // load each instead of one per SIMD lane.
    for (uint k = 0; k < p.cg; k++) {
      uint c = c0 + k, at = r.base + k * p.s;
      float a = r.st.rstd * float(gamma[c]), b = float(beta[c]);
      for (uint i = l; i < p.s; i += 4 * wg) {
        emit_channel(at, i, r.st, a, b);
        emit_channel(at, i + wg, r.st, a, b);
        emit_channel(at, i + 2 * wg, r.st, a, b);
        emit_channel(at, i + 3 * wg, r.st, a, b);
      }
    }
    return;
  }
#endif
  uint c = c0 + l / p.s, sp = l % p.s, dc = wg / p.s, ds = wg % p.s;
  for (uint i = l; i < r.len; i += 4 * wg) {
    emit(r, i, c, sp, dc, ds);
    emit(r, i + wg, c, sp, dc, ds);
    emit(r, i + 2 * wg, c, sp, dc, ds);
    emit(r, i + 3 * wg, c, sp, dc, ds);
  }
}
