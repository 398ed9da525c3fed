// GEGLU as in diffusers' GEGLU.forward after its projection: the last axis holds [hidden, gate].
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// x [..., 2N] -> y [..., N] = x[..., :N] * gelu(x[..., N:]) with exact (erf) GELU.
// x and y share the storage type and all leading dimensions.
void geglu(Sequence& s, const Tensor& x, const Tensor& y);

namespace ref {
// x holds rows of 2N values; returns rows of N values, in double then rounded to float.
std::vector<float> geglu(const std::vector<float>& x, int64_t n);
}  // namespace ref

}  // namespace sdvk::ops
