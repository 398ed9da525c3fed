#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// A permute that is a batched transpose, x [batch, rows, cols] -> y [batch, cols, rows] (NCHW to
// NHWC and back): each workgroup moves one 32x32 tile through shared memory, so reads and
// writes both run along contiguous memory and no invocation divides. Workgroup (column tile,
// row tile, batch).
#include "common.glsl"

layout(local_size_x = 32, local_size_y = 8) in;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };
layout(push_constant) uniform P {
  uint batch, rows, cols;
} p;

shared float tile[32][33];  // +1 column: the transposed reads fall in different banks

void main() {
  uint b = gl_WorkGroupID.z, r0 = gl_WorkGroupID.y * 32, c0 = gl_WorkGroupID.x * 32;
  if (b >= p.batch) return;  // the whole workgroup leaves together
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  uint in_base = b * p.rows * p.cols, out_base = in_base;
  for (uint j = ty; j < 32; j += 8) {
    uint r = r0 + j, c = c0 + tx;
    if (r < p.rows && c < p.cols) tile[j][tx] = float(x[in_base + r * p.cols + c]);
  }
  barrier();
  for (uint j = ty; j < 32; j += 8) {
    uint c = c0 + j, r = r0 + tx;
    if (r < p.rows && c < p.cols) y[out_base + c * p.rows + r] = sfp(tile[tx][j]);
  }
}
