#include "nn/downsample_2d.h"

namespace sdvk::nn {

Downsample2D Downsample2D::load(const Params& p, int64_t C, bool pad_all_sides) {
  return {Conv2d::load(p.at("conv"), C, C, 3), pad_all_sides};
}

Tensor Downsample2D::forward(Sequence& s, const Tensor& x, const std::string& name) const {
  ops::Conv2dParams cp = ops::conv_params(2, 1);
  if (!pad_all_sides) {
    cp = ops::conv_params(2, 0);
    cp.pad_bottom = cp.pad_right = 1;
  }
  Tensor y = s.temp(ops::conv2d_output_shape(x.shape(), conv.weight.shape(), cp), x.dtype(), name);
  conv.forward(s, x, y, cp);
  return y;
}

}  // namespace sdvk::nn
