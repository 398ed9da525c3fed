// Mean and 1/sqrt(biased variance + eps) of x[base .. base+len), as torch's norms compute them,
// in float32 whatever the storage, in one pass over the row: each invocation keeps Welford
// moments (count, mean, sum of squared deviations) of its values, and the workgroup merges them
// as Chan et al. do. The including shader declares `x[]` first.
//
// Row loops take 4 values per invocation per iteration: lavapipe stops a shader after 65535
// loop iterations in all (gallivm's loop limiter, shared by every loop in the shader), without
// an error, so the host sizes the workgroup from the row length (see ops/norm_rows.cpp).
#ifndef SDVK_NORM_STATS_GLSL
#define SDVK_NORM_STATS_GLSL
#include "norm_reduce.glsl"

// The row's mean is shift + mean, kept apart: x - shift is exact for values near the shift, so
// rows far from zero keep their low digits through the normalisation too.
struct RowStats {
  float shift, mean, rstd;
};

// (v - row mean) / sqrt(var + eps)
float normalised(float v, RowStats st) { return ((v - st.shift) - st.mean) * st.rstd; }

// Count, mean and sum of squared deviations (M2) of x[base .. base+len) - shift, merged over the
// workgroup. Every invocation gets them.
struct Moments {
  float n, mean, m2;
};

Moments moments(uint base, uint len, float shift) {
  uint l = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  float n = 0.0, mu = 0.0, m2 = 0.0;
  uint i = l;
  for (; i + 3 * wg < len; i += 4 * wg) {
    // A block of 4: its own mean and squared deviations, then one Chan merge into (n, mu, m2).
    float v0 = float(x[base + i]) - shift, v1 = float(x[base + i + wg]) - shift;
    float v2 = float(x[base + i + 2 * wg]) - shift, v3 = float(x[base + i + 3 * wg]) - shift;
    float bm = ((v0 + v1) + (v2 + v3)) * 0.25;
    float d0 = v0 - bm, d1 = v1 - bm, d2 = v2 - bm, d3 = v3 - bm;
    float delta = bm - mu, n_old = n;
    n += 4.0;
    mu += delta * (4.0 / n);
    m2 += ((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)) + delta * delta * (n_old * 4.0 / n);
  }
  for (; i < len; i += wg) {  // the last 0-3 values: Welford, one at a time
    float v = float(x[base + i]) - shift;
    n += 1.0;
    float delta = v - mu;
    mu += delta / n;
    m2 += delta * (v - mu);
  }
  // Workgroup merge: mean = sum(n_l mu_l) / len, M2 = sum(m2_l + n_l (mu_l - mean)^2).
  Moments m;
  m.n = float(len);
  m.mean = wg_sum(n * mu) / float(len);
  float d = mu - m.mean;
  m.m2 = wg_sum(m2 + n * d * d);
  return m;
}

RowStats row_stats(uint base, uint len, float eps) {
  // Moments of x - x[base]: trained activations can sit ~1e3 from zero with a spread of a few
  // units; shifted, the running means stay small and keep their low digits.
  RowStats st;
  st.shift = float(x[base]);
  Moments m = moments(base, len, st.shift);
  st.mean = m.mean;
  st.rstd = inversesqrt(m.m2 / float(len) + eps);
  return st;
}

#endif
