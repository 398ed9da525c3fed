// What group_norm, layer_norm and softmax share (a helper, not an op): one workgroup per row
// within lavapipe's loop budget, their argument checks and the reference normalisation. Their
// shaders share shaders/norm_reduce.glsl and shaders/norm_stats.glsl the same way.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops::norm_rows {

// lavapipe ends a shader after 65535 loop iterations in all (gallivm's loop limiter, shared
// by every loop of the shader) without an error. Rows get enough invocations to stay inside
// that, with room for the reductions' own short loops.
constexpr int64_t kMaxIterations = 60000;

// Iterations of a row loop over `len` values taking 4 per invocation per iteration.
inline int64_t blocks(int64_t len, uint32_t wg) { return (len + 4 * int64_t(wg) - 1) / (4 * int64_t(wg)); }

// Loop iterations per invocation for a workgroup of `wg`, CPU family or not.
using IterationCount = std::function<int64_t(uint32_t wg, bool cpu)>;

// The kernel for one row per workgroup. CPU family: a workgroup of one subgroup (8 SIMD lanes
// on lavapipe) reduced with subgroup operations: no shared memory and no barriers, and short
// rows (softmax over 77 tokens) keep every lane busy. GPU family: 256 invocations and a
// shared-memory tree. The CPU shape needs subgroup arithmetic; without it the GPU one serves.
// Either doubles its workgroup while a row would overrun the loop budget.
const Kernel& row_kernel(Context& ctx, const std::string& op, const Tensor& x, int64_t row_len, uint32_t bindings,
                         std::vector<uint32_t> spec, const IterationCount& iterations);

// y the shape and storage type of x, and x under 2^31 elements (so that i + 3 * workgroup cannot
// wrap in the shaders).
void check_rows(const std::string& op, const Tensor& x, const Tensor& y);

// gamma and beta: [C] of x's storage type.
void check_affine(const std::string& op, const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t c);

// The references of both norms: y = (x - mean) / sqrt(var + eps) * gamma[ch(i)] + beta[ch(i)]
// over x[first .. first+len), biased variance, all in double.
template <class Channel>
void normalise(const std::vector<float>& x, std::vector<float>& y, size_t first, size_t len, float eps,
               const std::vector<float>& gamma, const std::vector<float>& beta, Channel ch, bool silu) {
  double mean = 0, var = 0;
  for (size_t i = 0; i < len; i++) mean += x[first + i];
  mean /= double(len);
  for (size_t i = 0; i < len; i++) var += (x[first + i] - mean) * (x[first + i] - mean);
  var /= double(len);
  double rstd = 1.0 / std::sqrt(var + double(eps));
  for (size_t i = 0; i < len; i++) {
    size_t c = ch(i);
    double v = (x[first + i] - mean) * rstd * gamma[c] + beta[c];
    if (silu) v = v / (1.0 + std::exp(-v));
    y[first + i] = float(v);
  }
}

}  // namespace sdvk::ops::norm_rows
