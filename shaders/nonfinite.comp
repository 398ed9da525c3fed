#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant f32_vec4 VEC4=1
//! variant f16_vec4 FP16=1 VEC4=1
//! variant zero ZERO=1
//! variant finish FINISH=1
// Counts the NaN/Inf values of x into the 4 bytes of a [1] F32 tensor in three dispatches:
// zero: count = 0 as a uint.
// main: count += the number in x, by uint atomics. The test is on the exponent bits (all ones),
//   never isnan/isinf, which fast-math compilers may fold away. Each invocation checks 16
//   elements (16 scalar or 4 4-vector loads with VEC4, strided by the workgroup so it reads
//   4096 contiguous elements), the workgroup sums them in shared memory, and makes one
//   atomicAdd where that sum is not zero: none at all on clean data.
// finish: the uint becomes the float it counts (exact up to 2^24).
#include "common.glsl"

#if defined(ZERO) || defined(FINISH)
layout(local_size_x = 1) in;
layout(std430, binding = 0) buffer C { uint count; };
void main() {
#ifdef ZERO
  count = 0u;
#else
  count = floatBitsToUint(float(count));
#endif
}
#else

#ifdef FP16
#define EXP_MASK 0x7c00u
#define bits1_t uint16_t
#define bits4_t u16vec4
#else
#define EXP_MASK 0x7f800000u
#define bits1_t uint
#define bits4_t uvec4
#endif
#ifdef VEC4
#define bits_t bits4_t
#define N 4u
#else
#define bits_t bits1_t
#define N 1u
#endif
const uint LOADS = 16u / N;  // ops/nonfinite.cpp: kCountPerGroup = 256 * 16

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { bits_t x[]; };
layout(std430, binding = 1) buffer C { uint count; };
layout(push_constant) uniform P { uint n; } p;
shared uint group_count;

void main() {
  uint lid = gl_LocalInvocationID.x;
  if (lid == 0u) group_count = 0u;
  barrier();
  uint first = gl_WorkGroupID.x * (256u * LOADS) + lid, c = 0u;
  for (uint k = 0u; k < LOADS; k++) {
    uint i = first + k * 256u;  // in units of N elements
    if (i * N >= p.n) break;
#ifdef VEC4
    uvec4 e = uvec4(x[i]) & EXP_MASK;
    c += uint(e.x == EXP_MASK) + uint(e.y == EXP_MASK) + uint(e.z == EXP_MASK) + uint(e.w == EXP_MASK);
#else
    c += uint((uint(x[i]) & EXP_MASK) == EXP_MASK);
#endif
  }
  if (c != 0u) atomicAdd(group_count, c);
  barrier();
  if (lid == 0u && group_count != 0u) atomicAdd(count, group_count);
}
#endif
