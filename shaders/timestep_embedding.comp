#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// diffusers get_timestep_embedding: y [B, dim] from timesteps [B] (float32).
//   freq[j] = exp(neg_log_period * j / denom)     j < half = dim/2, all in float32
//   arg     = scale * (t * freq[j])                float32, as PyTorch computes it
//   y[b]    = cat(sin(arg), cos(arg)) or, flipped, cat(cos(arg), sin(arg)), zero-padded if dim is odd
// At t ~ 1000 one float32 ulp of freq moves the argument by ~6e-5, so freq must come out as
// float32's exp would (correctly rounded), and sin/cos of arguments near 1000 must be accurate:
// hence our own division, exp and argument reduction instead of the driver's approximations.
// `precise` keeps the compiler from fusing or reassociating the exact-arithmetic steps.
#include "common.glsl"
#include "timestep_embedding_math.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer T { float t[]; };
layout(std430, binding = 1) writeonly buffer Y { sfp y[]; };
layout(push_constant) uniform P {
  uint n;                // B * dim
  uint dim;
  uint half_dim;         // dim / 2
  uint flip;             // flip_sin_to_cos: cos first
  float neg_log_period;  // float32(-ln(max_period))
  float denom;           // float32(half_dim - downscale_freq_shift)
  float scale;
} p;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  uint b = i / p.dim, j = i - b * p.dim;
  if (j >= 2u * p.half_dim) {  // odd dim: the padding column
    y[i] = sfp(0.0);
    return;
  }
  bool second = j >= p.half_dim;
  uint col = second ? j - p.half_dim : j;
  precise float exponent = div_rn(p.neg_log_period * float(col), p.denom);
  precise float arg = t[b] * exp_rn(exponent);
  precise float scaled = p.scale * arg;
  vec2 sc = sincos_accurate(scaled);
  bool want_sin = second == (p.flip != 0u);  // sin first unless flipped
  y[i] = sfp(want_sin ? sc.x : sc.y);
}
