#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32_f32
//! variant f32_f16 DST16=1
//! variant f16_f32 SRC16=1
//! variant f16_f16 SRC16=1 DST16=1
//! variant f32_f32_vec4 VEC4=1
//! variant f32_f16_vec4 DST16=1 VEC4=1
//! variant f16_f32_vec4 SRC16=1 VEC4=1
//! variant f16_f16_vec4 SRC16=1 DST16=1 VEC4=1
// y = x in another storage type. The conversions work on the bit patterns with integer ops:
// drivers may flush float16 subnormals and pick their own rounding for float->half (lavapipe
// reports shaderDenormPreserveFloat16 = false), while a PyTorch cast rounds to nearest even,
// overflows to Inf and keeps subnormals. Same-type casts copy the bits (NaN payloads too).
// VEC4: 4 elements per invocation (n a multiple of 4), see binary.comp.
#include "common.glsl"

#if defined(SRC16) || defined(DST16)
#extension GL_EXT_shader_16bit_storage : require
#endif
// Element types: 16- or 32-bit words, 4 of them per invocation with VEC4.
#ifdef SRC16
#define src1_t uint16_t
#define src4_t u16vec4
#else
#define src1_t uint
#define src4_t uvec4
#endif
#ifdef DST16
#define dst1_t uint16_t
#define dst4_t u16vec4
#else
#define dst1_t uint
#define dst4_t uvec4
#endif
#ifdef VEC4
#define N 4
#define uint_n uvec4
#define src_t src4_t
#define dst_t dst4_t
#else
#define N 1
#define uint_n uint
#define src_t src1_t
#define dst_t dst1_t
#endif

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { src_t x[]; };
layout(std430, binding = 1) writeonly buffer Y { dst_t y[]; };
layout(push_constant) uniform P { uint n; } p;

// binary32 bits -> binary16 bits, round to nearest even.
uint half_bits(uint f) {
  uint sign = (f >> 16) & 0x8000u;
  uint m = f & 0x7fffffffu;
  if (m > 0x7f800000u) return sign | 0x7e00u | ((m >> 13) & 0x3ffu);  // NaN, kept quiet
  if (m >= 0x477ff000u) return sign | 0x7c00u;  // Inf, or rounds past 65504
  if (m >= 0x38800000u) {  // normal: rebias the exponent 127 -> 15, drop 13 mantissa bits
    uint h = (m - 0x38000000u) >> 13, rest = m & 0x1fffu;
    return sign | (h + uint(rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0u)));
  }
  if (m < 0x33000000u) return sign;  // at most half the smallest subnormal 2^-24: zero
  // Subnormal: the 24-bit significand shifted right by 14..24 places (carry into a normal ok).
  uint sig = (m & 0x7fffffu) | 0x800000u, shift = 126u - (m >> 23);
  uint h = sig >> shift, rest = sig & ((1u << shift) - 1u), half_ulp = 1u << (shift - 1u);
  return sign | (h + uint(rest > half_ulp || (rest == half_ulp && (h & 1u) != 0u)));
}

// binary16 bits -> binary32 bits (exact).
uint float_bits(uint h) {
  uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return sign | 0x7f800000u | (m << 13);  // Inf, NaN
  if (e != 0u) return sign | ((e + 112u) << 23) | (m << 13);
  if (m == 0u) return sign;
  // Subnormal m * 2^-24: normalise so the top set bit (bit t) becomes the implicit one.
  int t = findMSB(m);
  return sign | (uint(t + 103) << 23) | ((m << (23 - t)) & 0x7fffffu);
}

uint convert(uint v) {
#if defined(SRC16) && !defined(DST16)
  return float_bits(v);
#elif defined(DST16) && !defined(SRC16)
  return half_bits(v);
#else
  return v;
#endif
}

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i * N >= p.n) return;
  uint_n v = uint_n(x[i]);
#ifdef VEC4
  v = uvec4(convert(v.x), convert(v.y), convert(v.z), convert(v.w));
#else
  v = convert(v);
#endif
  y[i] = dst_t(v);
}
