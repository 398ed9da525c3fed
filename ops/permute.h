// Tensor layout changes: permute (e.g. NCHW <-> NHWC around a transformer block) and the token
// embedding lookup.
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// y = x.permute(perm) (PyTorch semantics: output dim d is input dim perm[d]); up to 4 dims;
// y's shape must be the permuted shape.
void permute(Sequence& s, const Tensor& x, const std::vector<int>& perm, const Tensor& y);
Shape permuted_shape(const Shape& x, const std::vector<int>& perm);

// y[..., :] = table[ids[...], :]; ids float32 [...] of exact integers, table [vocab, width],
// y [..., width] in table's dtype. An id outside [0, vocab) yields NaN in its row.
void embedding(Sequence& s, const Tensor& ids, const Tensor& table, const Tensor& y);

namespace ref {
std::vector<float> permute(const std::vector<float>& x, const Shape& shape, const std::vector<int>& perm);
std::vector<float> embedding(const std::vector<float>& ids, const std::vector<float>& table, int64_t width);
}  // namespace ref

}  // namespace sdvk::ops
