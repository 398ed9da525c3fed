// Nearest-neighbour upsampling, F.interpolate(x, scale_factor=2 | size=(H2,W2), mode="nearest"):
// Upsample2D before its convolution (the UNet's up blocks take the size of the skip connection
// they meet next, as diffusers does for latents not divisible by the UNet's downsampling).
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// x [N,C,H,W] -> y [N,C,2H,2W], y[n,c,h,w] = x[n,c,h/2,w/2]; same storage type.
void upsample_nearest2x(Sequence& s, const Tensor& x, const Tensor& y);
// x [N,C,H,W] -> y [N,C,H2,W2] of any size: y[n,c,i,j] = x[n,c,floor(i*H/H2),floor(j*W/W2)]
// with float32 scales (PyTorch's rule); exactly 2x takes upsample_nearest2x's kernels.
void upsample_nearest(Sequence& s, const Tensor& x, const Tensor& y);

namespace ref {
std::vector<float> upsample_nearest2x(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w);
std::vector<float> upsample_nearest(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w,
                                    int64_t h2, int64_t w2);
}  // namespace ref

}  // namespace sdvk::ops
