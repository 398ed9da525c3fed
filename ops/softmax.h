// Softmax over the last dim, float32 or float16 storage, max and sum always in float32. One
// workgroup per row; y may be x (in place).
#pragma once
#include <cstdint>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// y = softmax(scale * x) over the last dim: x, y [..., L].
void softmax(Sequence& s, const Tensor& x, const Tensor& y, float scale = 1.0f);

namespace ref {
// x [rows, l].
std::vector<float> softmax(const std::vector<float>& x, int64_t l, float scale);
}  // namespace ref

}  // namespace sdvk::ops
