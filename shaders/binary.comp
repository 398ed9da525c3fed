#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
//! variant f32_vec4 VEC4=1
//! variant f16_vec4 FP16=1 VEC4=1
// y = a op b with broadcasting (OP: 0 add, 1 sub, 2 mul). The host collapses the shapes to NDIM
// dims (outermost first); y's flat index gives coordinates, and each operand's strides (0 along
// a broadcast dim) give its element. Equal shapes are NDIM 1 with strides 1.
// VEC4: each invocation does 4 neighbours along the innermost dim (its length is a multiple of
// 4), as one vec4 load per operand, or one scalar load where the operand broadcasts along it.
// On lavapipe, whose buffer accesses loop over the SIMD lanes, this is ~8x faster than scalars.
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;
layout(constant_id = 1) const int NDIM = 1;
layout(constant_id = 2) const uint INNER_A = 1;  // a's stride along the innermost dim: 1 or 0
layout(constant_id = 3) const uint INNER_B = 1;

layout(std430, binding = 0) readonly buffer A { sfp a[]; };
layout(std430, binding = 1) readonly buffer B { sfp b[]; };
layout(std430, binding = 2) writeonly buffer Y { sfp y[]; };
#ifdef VEC4
#ifdef FP16
#define sfp4 f16vec4
#else
#define sfp4 vec4
#endif
// The same buffers as 4-vectors (Vulkan allows aliased bindings of one descriptor type).
layout(std430, binding = 0) readonly buffer A4 { sfp4 a4[]; };
layout(std430, binding = 1) readonly buffer B4 { sfp4 b4[]; };
layout(std430, binding = 2) writeonly buffer Y4 { sfp4 y4[]; };
#endif

layout(push_constant) uniform P {
  uint n;
  uint dim[6];
  uint sa[6];
  uint sb[6];
  uint magic[6];  // r / dim[d] == (umulhi(r, magic[d]) + r) >> shift[d] for r < 2^31
  uint shift[6];
} p;

void main() {
#ifdef VEC4
  uint i = gl_GlobalInvocationID.x * 4u;
#else
  uint i = gl_GlobalInvocationID.x;
#endif
  if (i >= p.n) return;
  uint r = i, ia = 0, ib = 0;
  for (int d = NDIM - 1; d > 0; d--) {  // inner dims; the outermost takes what is left
    uint hi, lo;
    umulExtended(r, p.magic[d], hi, lo);
    uint q = (hi + r) >> p.shift[d], c = r - q * p.dim[d];
    r = q;
    ia += c * p.sa[d];
    ib += c * p.sb[d];
  }
  ia += r * p.sa[0];
  ib += r * p.sb[0];
#ifdef VEC4
  vec4 u = INNER_A == 1 ? vec4(a4[ia >> 2]) : vec4(float(a[ia]));
  vec4 v = INNER_B == 1 ? vec4(b4[ib >> 2]) : vec4(float(b[ib]));
  vec4 res = OP == 0 ? u + v : OP == 1 ? u - v : u * v;
  y4[i >> 2] = sfp4(res);
#else
  float u = float(a[ia]), v = float(b[ib]);
  float res = OP == 0 ? u + v : OP == 1 ? u - v : u * v;
  y[i] = sfp(res);
#endif
}
