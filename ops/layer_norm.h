// torch.nn.LayerNorm, float32 or float16 storage, statistics always in float32. One workgroup
// per normalised row; y may be x (in place).
#pragma once
#include <cstdint>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// torch.nn.LayerNorm(C, eps) over the last dim: x, y [..., C]; gamma, beta [C].
void layer_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, float eps);

namespace ref {
// x [rows, c].
std::vector<float> layer_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t c, float eps);
}  // namespace ref

}  // namespace sdvk::ops
