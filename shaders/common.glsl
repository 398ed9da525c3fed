// Shared by every shader. Storage type `sfp` (float or float16_t, chosen by -DFP16), arithmetic
// always in float: load with float(x), store with sfp(v).
#ifndef SDVK_COMMON_GLSL
#define SDVK_COMMON_GLSL

#ifdef FP16
#extension GL_EXT_shader_16bit_storage : require
#define sfp float16_t
#else
#define sfp float
#endif

// erf(x) with absolute error below 1.2e-7 (Numerical Recipes erfc, Chebyshev fit), so exact-erf
// GELU stays within 1e-6 of the reference where the tanh approximation is 1e-3 off.
float erf_approx(float x) {
  float z = abs(x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0.0 ? 1.0 - r : r - 1.0;
}

float silu(float x) { return x / (1.0 + exp(-x)); }
float gelu_erf(float x) { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
float quick_gelu(float x) { return x / (1.0 + exp(-1.702 * x)); }

#endif
