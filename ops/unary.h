// Elementwise activations: y = f(x), any shape, float32 or float16 storage.
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

enum class Activation : uint32_t { SiLU = 0, GeluErf = 1, QuickGelu = 2 };

// y[i] = f(x[i]); x and y have the same shape and dtype (y may be x).
void unary(Sequence& s, Activation f, const Tensor& x, const Tensor& y);

namespace ref {
float activation(Activation f, float x);  // double-precision formula, rounded to float
std::vector<float> unary(Activation f, const std::vector<float>& x);
}  // namespace ref

}  // namespace sdvk::ops
