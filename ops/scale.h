// Affine scale y = alpha * x + beta (latent scaling, the VAE's [0,1] <-> [-1,1] maps), float32
// or float16 storage, float32 arithmetic.
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// y = alpha * x + beta; x and y same shape and dtype (y may be x).
void scale(Sequence& s, const Tensor& x, const Tensor& y, float alpha, float beta = 0.0f);

namespace ref {
std::vector<float> scale(const std::vector<float>& x, float alpha, float beta);
}  // namespace ref

}  // namespace sdvk::ops
