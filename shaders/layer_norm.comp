#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant cpu_f32 CPU=1
//! variant cpu_f16 CPU=1 FP16=1
// torch.nn.LayerNorm over the last dim of x [R, C] (R = all leading dims): one workgroup per
// row, looping over it.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { sfp x[]; };      // [R, C]
layout(std430, binding = 1) readonly buffer G { sfp gamma[]; };  // [C]
layout(std430, binding = 2) readonly buffer B { sfp beta[]; };   // [C]
layout(std430, binding = 3) writeonly buffer Y { sfp y[]; };     // [R, C]
layout(push_constant) uniform P {
  uint rows;
  uint c;
  float eps;
} p;

#include "norm_stats.glsl"

void emit(uint base, uint i, RowStats st) {
  if (i < p.c) y[base + i] = sfp(normalised(float(x[base + i]), st) * float(gamma[i]) + float(beta[i]));
}

void main() {
  uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;  // the whole workgroup leaves together
  uint base = row * p.c, wg = gl_WorkGroupSize.x;
  RowStats st = row_stats(base, p.c, p.eps);
  for (uint i = gl_LocalInvocationID.x; i < p.c; i += 4 * wg) {  // 4 values per iteration: see norm_stats.glsl
    emit(base, i, st);
    emit(base, i + wg, st);
    emit(base, i + 2 * wg, st);
    emit(base, i + 3 * wg, st);
  }
}
