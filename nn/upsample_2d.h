// Upsample2D (diffusers v0.21.4, use_conv=True): nearest-neighbour upsampling, then a 3x3
// convolution. To twice the size, or (the UNet's upsample_size) to the size of the skip
// connection met next, which differs where a downsample rounded an odd size up.
#pragma once
#include <cstdint>
#include <string>

#include "nn/layers.h"

namespace sdvk::nn {

struct Upsample2D {  // upsamplers.0.*
  Conv2d conv;       // [C,C,3,3]

  static Upsample2D load(const Params& p, int64_t channels);
  // x [B,C,h,w] -> [B,C,2h,2w].
  Tensor forward(Sequence& s, const Tensor& x, const std::string& name) const;
  // x [B,C,h,w] -> [B,C,H,W] (nearest with PyTorch's float scales).
  Tensor forward(Sequence& s, const Tensor& x, int64_t H, int64_t W, const std::string& name) const;

 private:
  Tensor conv_of(Sequence& s, const Tensor& up, const std::string& name) const;
};

}  // namespace sdvk::nn
