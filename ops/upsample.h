// Nearest-neighbour 2x upsampling, F.interpolate(x, scale_factor=2, mode="nearest"): the UNet's
// Upsample2D before its convolution.
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// x [N,C,H,W] -> y [N,C,2H,2W], y[n,c,h,w] = x[n,c,h/2,w/2]; same storage type.
void upsample_nearest2x(Sequence& s, const Tensor& x, const Tensor& y);

namespace ref {
std::vector<float> upsample_nearest2x(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w);
}  // namespace ref

}  // namespace sdvk::ops
