#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant cpu_f32 CPU=1
//! variant cpu_f16 CPU=1 FP16=1
//! variant split_f32 SPLIT=1
//! variant split_f16 SPLIT=1 FP16=1
// torch.nn.GroupNorm, optionally followed by SiLU, on x [N, C, S] (S = the flattened trailing
// dims). Channels [g*Cg, (g+1)*Cg) of sample n form one contiguous row of Cg*S values: one
// workgroup per row (n, g), looping over it, so any row length works. SPLIT: workgroup
// (chunk, row) normalises one chunk of a row with the statistics merged from the chunks'
// moments (group_norm_stats.comp), so few long rows still fill a GPU.
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
  uint chunk;   // SPLIT: values per chunk (the last one may be shorter)
  uint chunks;  // SPLIT: chunks per row
} p;
#ifdef SPLIT
layout(std430, binding = 4) readonly buffer M { vec4 part[]; };  // [rows, chunks]: count, mean, M2, shift
#endif

#include "norm_stats.glsl"

struct Row {
  uint base;  // the row starts at x[base]
  uint len;   // this workgroup writes the row's values below len (from its chunk's start)
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

#ifdef SPLIT
// The row's statistics from its chunks' moments, merged as row_stats merges a workgroup's:
// mean = sum(n_k mean_k) / len, M2 = sum(M2_k + n_k (mean_k - mean)^2), in the same order in
// every workgroup of the row.
RowStats merged_stats(uint row, uint len) {
  uint first = row * p.chunks;
  float sum = 0.0;
  for (uint k = 0; k < p.chunks; k++) sum += part[first + k].x * part[first + k].y;
  RowStats st;
  st.shift = part[first].w;  // x[base] as the first pass read it (in place it may be gone now)
  st.mean = sum / float(len);
  float m2 = 0.0;
  for (uint k = 0; k < p.chunks; k++) {
    vec4 m = part[first + k];
    float d = m.y - st.mean;
    m2 += m.z + m.x * d * d;
  }
  st.rstd = inversesqrt(m2 / float(len) + p.eps);
  return st;
}
#endif

void main() {
  Row r;
  uint len = p.cg * p.s, from = 0;
#ifdef SPLIT
  uint row = gl_WorkGroupID.y;
  if (row >= p.rows || gl_WorkGroupID.x >= p.chunks) return;  // the whole workgroup leaves together
  r.base = row * len;
  from = gl_WorkGroupID.x * p.chunk;
  r.len = min(from + p.chunk, len);  // this chunk is row values [from, r.len)
  r.st = merged_stats(row, len);
#else
  uint row = gl_WorkGroupID.x;  // n * groups + g
  if (row >= p.rows) return;     // the whole workgroup leaves together
  r.base = row * len;
  r.len = len;
  r.st = row_stats(r.base, r.len, p.eps);
#endif

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
  uint c = c0 + (from + l) / p.s, sp = (from + l) % p.s, dc = wg / p.s, ds = wg % p.s;
  for (uint i = from + l; i < r.len; i += 4 * wg) {
    emit(r, i, c, sp, dc, ds);
    emit(r, i + wg, c, sp, dc, ds);
    emit(r, i + 2 * wg, c, sp, dc, ds);
    emit(r, i + 3 * wg, c, sp, dc, ds);
  }
}
