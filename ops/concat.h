// torch.cat: the UNet joins skip connections to the decoder path along channels (dim 1).
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// y = torch.cat(inputs, dim). At least one input; all share y's rank and storage type and
// equal y's shape except along `dim`, where their sizes sum to y's. dim may be negative
// (counted from the end) as in PyTorch. y must not overlap any input.
void concat(Sequence& s, const std::vector<Tensor>& inputs, int dim, const Tensor& y);

namespace ref {
// Inputs as flat row-major vectors with their shapes; returns the flat concatenation.
std::vector<float> concat(const std::vector<std::vector<float>>& inputs, const std::vector<Shape>& shapes, int dim);
}  // namespace ref

}  // namespace sdvk::ops
