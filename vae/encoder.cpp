#include "vae/encoder.h"

#include "core/error.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/norm.h"
#include "vae/blocks.h"

namespace sdvk::vae {

Encoder::Encoder(Context& ctx, const Component& vae, DType dtype)
    : cfg_(VaeConfig::from(vae)), params_(ctx, vae, dtype) {
  count_ = Tensor::empty(ctx, {1}, DType::F32, "vae.encoder.nonfinite");
}

Tensor Encoder::forward(Sequence& s, const Tensor& image) {
  const auto& boc = cfg_.block_out_channels;
  const int levels = int(boc.size());
  const int64_t n = image.dim(0), cin = cfg_.in_channels, mc = 2 * cfg_.latent_channels;
  int64_t h = image.dim(2), w = image.dim(3);
  const DType dt = params_.dtype();
  if (image.ndim() != 4 || image.dim(1) != cin || image.dtype() != dt)
    throw Error("vae encoder: image must be [N," + std::to_string(cin) + ",H,W] in the weights' dtype");
  nn::Params e = params_.at("encoder");

  Tensor x = s.temp({n, boc[0], h, w}, dt, "encoder.conv_in");                               // [N,C0,H,W]
  Tensor bin = e.get("conv_in.bias", {boc[0]});
  ops::conv2d(s, image, e.get("conv_in.weight", {boc[0], cin, 3, 3}), &bin, x, ops::conv_params(1, 1));
  for (int i = 0; i < levels; ++i) {
    const int64_t out_ch = boc[i];
    const std::string name = "down_blocks." + std::to_string(i);
    nn::Params db = e.at(name);
    for (int j = 0; j < cfg_.layers_per_block; ++j)                                           // [N,out_ch,h,w]
      x = resnet_block(s, db.at("resnets." + std::to_string(j)), x, out_ch, cfg_.groups, cfg_.eps,
                       "encoder." + name + ".resnets." + std::to_string(j));
    if (i != levels - 1) {  // Downsample2D: pad (0,1,0,1), conv 3x3 stride 2
      ops::Conv2dParams cp;
      cp.stride_h = cp.stride_w = 2;
      cp.pad_bottom = cp.pad_right = 1;
      Shape os = ops::conv2d_output_shape(x.shape(), {out_ch, out_ch, 3, 3}, cp);
      Tensor down = s.temp(os, dt, "encoder." + name + ".downsamplers.0.conv");                 // [N,out_ch,h/2,w/2]
      Tensor bd = db.get("downsamplers.0.conv.bias", {out_ch});
      ops::conv2d(s, x, db.get("downsamplers.0.conv.weight", {out_ch, out_ch, 3, 3}), &bd, down, cp);
      x = down;
      h = os[2];
      w = os[3];
    }
  }
  const int64_t top = boc.back();
  x = mid_block(s, e.at("mid_block"), x, cfg_.groups, cfg_.eps, "encoder.mid_block");      // [N,C_top,h,w]
  Tensor normed = s.temp({n, top, h, w}, dt, "encoder.conv_norm_out");                       // [N,C_top,h,w]
  ops::group_norm(s, x, e.get("conv_norm_out.weight", {top}), e.get("conv_norm_out.bias", {top}), normed,
                  cfg_.groups, cfg_.eps, true);
  Tensor co = s.temp({n, mc, h, w}, dt, "encoder.conv_out");                                 // [N,8,h,w]
  Tensor bout = e.get("conv_out.bias", {mc});
  ops::conv2d(s, normed, e.get("conv_out.weight", {mc, top, 3, 3}), &bout, co, ops::conv_params(1, 1));
  Tensor m = s.temp({n, mc, h, w}, dt, "quant_conv");                                        // [N,8,h,w]
  Tensor bq = params_.get("quant_conv.bias", {mc});
  ops::conv2d(s, co, params_.get("quant_conv.weight", {mc, mc, 1, 1}), &bq, m, ops::conv_params(1, 0));
  s.keep(m);
  ops::nonfinite(s, m, count_);
  s.output(count_);  // check_output(s) reads it from the run's own submission
  return m;
}

void Encoder::check_output() const { check_finite(params_.context(), count_, "vae encoder output"); }
void Encoder::check_output(const Sequence& s) const { check_finite(s, count_, "vae encoder output"); }

}  // namespace sdvk::vae
