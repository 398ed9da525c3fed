// Tensor layout changes: permute (e.g. NCHW <-> NHWC around a transformer block).
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// y = x.permute(perm) (PyTorch semantics: output dim d is input dim perm[d]); up to 4 dims;
// y's shape must be the permuted shape.
void permute(Sequence& s, const Tensor& x, const std::vector<int>& perm, const Tensor& y);
Shape permuted_shape(const Shape& x, const std::vector<int>& perm);

namespace ref {
std::vector<float> permute(const std::vector<float>& x, const Shape& shape, const std::vector<int>& perm);
}  // namespace ref

}  // namespace sdvk::ops
