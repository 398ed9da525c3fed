#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// First pass of a group norm whose rows are split over several workgroups (GPU family, few
// rows: see ops/group_norm.cpp): the moments of one chunk of a row about the row's first value, which
// group_norm.comp's split variant merges. Workgroup (chunk, row).
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { sfp x[]; };      // [rows, len]
layout(std430, binding = 1) writeonly buffer M { vec4 part[]; };  // [rows, chunks]: count, mean, M2, shift
layout(push_constant) uniform P {
  uint rows;
  uint len;     // row length: channels per group * spatial size
  uint chunk;   // values per chunk (the last one may be shorter)
  uint chunks;
} p;

#include "norm_stats.glsl"

void main() {
  uint row = gl_WorkGroupID.y, k = gl_WorkGroupID.x;
  if (row >= p.rows || k >= p.chunks) return;  // the whole workgroup leaves together
  uint base = row * p.len, from = k * p.chunk;
  float shift = float(x[base]);
  Moments m = moments(base + from, min(p.chunk, p.len - from), shift);
  // The shift travels with the moments: in place, x[base] may be overwritten before the
  // second pass of another chunk reads it.
  if (gl_LocalInvocationID.x == 0) part[row * p.chunks + k] = vec4(m.n, m.mean, m.m2, shift);
}
