// Row lookup: CLIP's token and position embeddings, and gathering chosen rows (the pooled eos
// token, the class token).
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// y[..., :] = table[ids[...], :]; ids float32 [...] of exact integers, table [vocab, width],
// y [..., width] in table's dtype. An id outside [0, vocab) yields NaN in its row.
void embedding(Sequence& s, const Tensor& ids, const Tensor& table, const Tensor& y);

namespace ref {
std::vector<float> embedding(const std::vector<float>& ids, const std::vector<float>& table, int64_t width);
}  // namespace ref

}  // namespace sdvk::ops
