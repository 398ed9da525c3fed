#include "vae/encoder.h"

#include "core/error.h"
#include "ops/conv2d.h"
#include "ops/nonfinite.h"

namespace sdvk::vae {

Encoder::Encoder(Context& ctx, const Component& vae, DType dtype)
    : cfg_(VaeConfig::from(vae)), params_(ctx, vae, dtype) {
  count_ = Tensor::empty(ctx, {1}, DType::F32, "vae.encoder.nonfinite");
}

Encoder::Modules Encoder::load() const {
  const auto& boc = cfg_.block_out_channels;
  const int levels = int(boc.size());
  const int64_t mc = 2 * cfg_.latent_channels, top = boc.back();
  const nn::Params e = params_.at("encoder");
  Modules m;
  m.conv_in = nn::Conv2d::load(e.at("conv_in"), boc[0], cfg_.in_channels, 3);
  int64_t in_ch = boc[0];
  for (int i = 0; i < levels; ++i) {
    const int64_t out_ch = boc[i];
    const nn::Params db = e.at("down_blocks." + std::to_string(i));
    DownEncoderBlock2D b;
    for (int j = 0; j < cfg_.layers_per_block; ++j)
      b.resnets.push_back(nn::ResnetBlock2D::load(db.at("resnets." + std::to_string(j)), j == 0 ? in_ch : out_ch,
                                                  out_ch, 0, cfg_.groups, cfg_.eps));
    if (i != levels - 1) b.downsamplers.push_back(nn::Downsample2D::load(db.at("downsamplers.0"), out_ch, false));
    m.down_blocks.push_back(std::move(b));
    in_ch = out_ch;
  }
  m.mid_block = UNetMidBlock2D::load(e.at("mid_block"), top, cfg_.groups, cfg_.eps);
  m.conv_norm_out = nn::GroupNorm::load(e.at("conv_norm_out"), top);
  m.conv_out = nn::Conv2d::load(e.at("conv_out"), mc, top, 3);
  m.quant_conv = nn::Conv2d::load(params_.at("quant_conv"), mc, mc, 1);
  return m;
}

Tensor Encoder::forward(Sequence& s, const Tensor& image) {
  const int64_t n = image.dim(0), cin = cfg_.in_channels, mc = 2 * cfg_.latent_channels, c0 = cfg_.block_out_channels[0];
  const DType dt = params_.dtype();
  if (image.ndim() != 4 || image.dim(1) != cin || image.dtype() != dt)
    throw Error("vae encoder: image must be [N," + std::to_string(cin) + ",H,W] in the weights' dtype");
  if (!modules_) modules_ = std::make_unique<Modules>(load());
  const Modules& m = *modules_;

  Tensor x = s.temp({n, c0, image.dim(2), image.dim(3)}, dt, "encoder.conv_in");            // [N,C0,H,W]
  m.conv_in.forward(s, image, x, ops::conv_params(1, 1));
  for (size_t i = 0; i < m.down_blocks.size(); ++i)                                         // [N,C_i,H/2^i,W/2^i]
    x = m.down_blocks[i].forward(s, x, "encoder.down_blocks." + std::to_string(i));
  x = m.mid_block.forward(s, x, "encoder.mid_block");                                      // [N,C_top,h,w]
  Tensor normed = s.temp(x.shape(), dt, "encoder.conv_norm_out");                            // [N,C_top,h,w]
  m.conv_norm_out.forward(s, x, normed, cfg_.groups, cfg_.eps, true);
  const int64_t h = x.dim(2), w = x.dim(3);
  Tensor co = s.temp({n, mc, h, w}, dt, "encoder.conv_out");                                 // [N,8,h,w]
  m.conv_out.forward(s, normed, co, ops::conv_params(1, 1));
  Tensor moments = s.temp({n, mc, h, w}, dt, "quant_conv");                                  // [N,8,h,w]
  m.quant_conv.forward(s, co, moments, ops::conv_params(1, 0));
  s.keep(moments);
  ops::nonfinite(s, moments, count_);
  s.output(count_);  // check_output(s) reads it from the run's own submission
  return moments;
}

void Encoder::check_output() const { check_finite(params_.context(), count_, "vae encoder output"); }
void Encoder::check_output(const Sequence& s) const { check_finite(s, count_, "vae encoder output"); }

}  // namespace sdvk::vae
