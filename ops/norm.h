// Normalisations and softmax, float32 or float16 storage, statistics always in float32.
// One workgroup per normalised row; y may be x (in place).
#pragma once
#include <cstdint>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// torch.nn.GroupNorm(groups, C, eps) on x [N, C, *] (trailing dims flattened), then SiLU when
// `silu`. gamma, beta [C]; `groups` divides C. diffusers: eps 1e-5 in the UNet, 1e-6 in the VAE.
void group_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, int groups,
                float eps, bool silu = false);

// torch.nn.LayerNorm(C, eps) over the last dim: x, y [..., C]; gamma, beta [C].
void layer_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, float eps);

// y = softmax(scale * x) over the last dim: x, y [..., L].
void softmax(Sequence& s, const Tensor& x, const Tensor& y, float scale = 1.0f);

namespace ref {
// x [n, c, spatial] row-major.
std::vector<float> group_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t n, int64_t c, int64_t spatial, int groups,
                              float eps, bool silu);
// x [rows, c].
std::vector<float> layer_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t c, float eps);
// x [rows, l].
std::vector<float> softmax(const std::vector<float>& x, int64_t l, float scale);
}  // namespace ref

}  // namespace sdvk::ops
