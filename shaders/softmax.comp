#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant cpu_f32 CPU=1
//! variant cpu_f16 CPU=1 FP16=1
// y = softmax(scale * x) over the last dim of x [R, L]: one workgroup per row, looping over it
// with 4 values per invocation per iteration (lavapipe's loop limit: see norm_stats.glsl).
// Exponents are taken after subtracting the row max, so none exceeds 1 (no overflow at any
// magnitude) and the largest term is exactly 1 (the sum is at least 1).
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { sfp x[]; };   // [R, L]
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };  // [R, L]
layout(push_constant) uniform P {
  uint rows;
  uint l;
  float scale;
} p;

#include "norm_reduce.glsl"

// scale * x[base + i], or `outside` past the row's end.
float logit(uint base, uint i, float outside) { return i < p.l ? p.scale * float(x[base + i]) : outside; }
// exp(logit - m), 0 past the row's end.
float term(uint base, uint i, float m) { return i < p.l ? exp(p.scale * float(x[base + i]) - m) : 0.0; }

void emit(uint base, uint i, float m, float inv) {
  if (i < p.l) y[base + i] = sfp(term(base, i, m) * inv);
}

void main() {
  uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;  // the whole workgroup leaves together
  uint base = row * p.l, l0 = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  // Max of scale * x (not scale * max x: the scale may be negative). Every invocation starts
  // from the row's first value, so idle ones add nothing new.
  float m = logit(base, 0, 0.0);
  for (uint i = l0; i < p.l; i += 4 * wg)
    m = max(max(m, max(logit(base, i, m), logit(base, i + wg, m))),
            max(logit(base, i + 2 * wg, m), logit(base, i + 3 * wg, m)));
  m = wg_max(m);
  float acc = 0.0;
  for (uint i = l0; i < p.l; i += 4 * wg)
    acc += (term(base, i, m) + term(base, i + wg, m)) + (term(base, i + 2 * wg, m) + term(base, i + 3 * wg, m));
  float inv = 1.0 / wg_sum(acc);
  for (uint i = l0; i < p.l; i += 4 * wg) {
    emit(base, i, m, inv);
    emit(base, i + wg, m, inv);
    emit(base, i + 2 * wg, m, inv);
    emit(base, i + 3 * wg, m, inv);
  }
}
