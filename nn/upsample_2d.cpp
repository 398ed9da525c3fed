#include "nn/upsample_2d.h"

#include "ops/upsample_nearest.h"

namespace sdvk::nn {

Upsample2D Upsample2D::load(const Params& p, int64_t C) { return {Conv2d::load(p.at("conv"), C, C, 3)}; }

Tensor Upsample2D::forward(Sequence& s, const Tensor& x, const std::string& name) const {
  const int64_t B = x.dim(0), C = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor up = s.temp({B, C, 2 * h, 2 * w}, x.dtype(), name);                          // [B,C,2h,2w]
  ops::upsample_nearest2x(s, x, up);
  return conv_of(s, up, name);
}

Tensor Upsample2D::forward(Sequence& s, const Tensor& x, int64_t H, int64_t W, const std::string& name) const {
  Tensor up = s.temp({x.dim(0), x.dim(1), H, W}, x.dtype(), name);                    // [B,C,H,W]
  ops::upsample_nearest(s, x, up);
  return conv_of(s, up, name);
}

Tensor Upsample2D::conv_of(Sequence& s, const Tensor& up, const std::string& name) const {
  Tensor y = s.temp(up.shape(), up.dtype(), name + ".conv");                          // [B,C,H,W]
  conv.forward(s, up, y, ops::conv_params(1, 1));
  return y;
}

}  // namespace sdvk::nn
