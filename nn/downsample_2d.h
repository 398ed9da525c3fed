// Downsample2D (diffusers v0.21.4, use_conv=True): a 3x3 convolution of stride 2. The UNet's
// pads 1 on every side (padding=1); the VAE encoder's pads only bottom and right (padding=0
// and F.pad(0,1,0,1)), so an odd side rounds differently.
#pragma once
#include <cstdint>
#include <string>

#include "nn/layers.h"

namespace sdvk::nn {

struct Downsample2D {  // downsamplers.0.*
  Conv2d conv;         // [C,C,3,3]
  bool pad_all_sides = true;

  static Downsample2D load(const Params& p, int64_t channels, bool pad_all_sides);
  // x [B,C,H,W] -> [B,C,~H/2,~W/2]; `name` names the output temporary.
  Tensor forward(Sequence& s, const Tensor& x, const std::string& name) const;
};

}  // namespace sdvk::nn
