// torch.nn.GroupNorm, float32 or float16 storage, statistics always in float32. One workgroup
// per normalised row (or, on the GPU family, rows split into chunks); y may be x (in place).
#pragma once
#include <cstdint>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// torch.nn.GroupNorm(groups, C, eps) on x [N, C, *] (trailing dims flattened), then SiLU when
// `silu`. gamma, beta [C]; `groups` divides C. diffusers: eps 1e-5 in the UNet, 1e-6 in the VAE.
void group_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, int groups,
                float eps, bool silu = false);

namespace ref {
// x [n, c, spatial] row-major.
std::vector<float> group_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t n, int64_t c, int64_t spatial, int groups,
                              float eps, bool silu);
}  // namespace ref

}  // namespace sdvk::ops
