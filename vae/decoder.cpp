#include "vae/decoder.h"

#include <algorithm>

#include "core/error.h"
#include "ops/conv2d.h"
#include "ops/nonfinite.h"

namespace sdvk::vae {

VaeConfig VaeConfig::from(const Component& vae) {
  const auto& c = vae.config;
  VaeConfig v;
  v.block_out_channels = c.at("block_out_channels").get<std::vector<int64_t>>();
  v.layers_per_block = c.at("layers_per_block").get<int>();
  v.groups = c.at("norm_num_groups").get<int>();
  v.in_channels = c.at("in_channels").get<int64_t>();
  v.out_channels = c.at("out_channels").get<int64_t>();
  v.latent_channels = c.at("latent_channels").get<int64_t>();
  if (v.block_out_channels.empty()) throw Error("vae config: block_out_channels is empty");
  return v;
}

Decoder::Decoder(Context& ctx, const Component& vae, DType dtype)
    : cfg_(VaeConfig::from(vae)), params_(ctx, vae, dtype) {
  count_ = Tensor::empty(ctx, {1}, DType::F32, "vae.decoder.nonfinite");
}

Decoder::Modules Decoder::load() const {
  const auto& boc = cfg_.block_out_channels;
  const int levels = int(boc.size());
  const int64_t lc = cfg_.latent_channels, top = boc.back();
  const nn::Params d = params_.at("decoder");
  Modules m;
  m.post_quant_conv = nn::Conv2d::load(params_.at("post_quant_conv"), lc, lc, 1);
  m.conv_in = nn::Conv2d::load(d.at("conv_in"), top, lc, 3);
  m.mid_block = UNetMidBlock2D::load(d.at("mid_block"), top, cfg_.groups, cfg_.eps);
  int64_t in_ch = top;
  for (int i = 0; i < levels; ++i) {
    const int64_t out_ch = boc[levels - 1 - i];
    const nn::Params ub = d.at("up_blocks." + std::to_string(i));
    UpDecoderBlock2D b;
    for (int j = 0; j <= cfg_.layers_per_block; ++j)
      b.resnets.push_back(nn::ResnetBlock2D::load(ub.at("resnets." + std::to_string(j)), j == 0 ? in_ch : out_ch,
                                                  out_ch, 0, cfg_.groups, cfg_.eps));
    if (i != levels - 1) b.upsamplers.push_back(nn::Upsample2D::load(ub.at("upsamplers.0"), out_ch));
    m.up_blocks.push_back(std::move(b));
    in_ch = out_ch;
  }
  m.conv_norm_out = nn::GroupNorm::load(d.at("conv_norm_out"), boc[0]);
  m.conv_out = nn::Conv2d::load(d.at("conv_out"), cfg_.out_channels, boc[0], 3);
  return m;
}

Tensor Decoder::forward(Sequence& s, const Tensor& latent) {
  const int64_t lc = cfg_.latent_channels;
  const DType dt = params_.dtype();
  if (latent.ndim() != 4 || latent.dim(1) != lc || latent.dtype() != dt)
    throw Error("vae decoder: latent must be [N," + std::to_string(lc) + ",h,w] in the weights' dtype");
  if (!modules_) modules_ = std::make_unique<Modules>(load());
  const Modules& m = *modules_;
  const int64_t n = latent.dim(0), h = latent.dim(2), w = latent.dim(3), top = cfg_.block_out_channels.back();

  Tensor z = s.temp({n, lc, h, w}, dt, "post_quant_conv");                                   // [N,4,h,w]
  m.post_quant_conv.forward(s, latent, z, ops::conv_params(1, 0));
  Tensor x = s.temp({n, top, h, w}, dt, "decoder.conv_in");                                  // [N,C_top,h,w]
  m.conv_in.forward(s, z, x, ops::conv_params(1, 1));
  x = m.mid_block.forward(s, x, "decoder.mid_block");                                      // [N,C_top,h,w]
  for (size_t i = 0; i < m.up_blocks.size(); ++i)                                           // [N,C_i,h*2^i,w*2^i]
    x = m.up_blocks[i].forward(s, x, "decoder.up_blocks." + std::to_string(i));
  Tensor normed = s.temp(x.shape(), dt, "decoder.conv_norm_out");                            // [N,C0,H,W]
  m.conv_norm_out.forward(s, x, normed, cfg_.groups, cfg_.eps, true);
  Tensor y = s.temp({n, cfg_.out_channels, x.dim(2), x.dim(3)}, dt, "decoder.conv_out");     // [N,3,H,W]
  m.conv_out.forward(s, normed, y, ops::conv_params(1, 1));
  s.keep(y);
  ops::nonfinite(s, y, count_);
  s.output(count_);  // check_output(s) reads it from the run's own submission
  return y;
}

uint64_t Decoder::largest_activation_bytes(const Shape& latent) const {
  const auto& boc = cfg_.block_out_channels;
  const int levels = int(boc.size());
  uint64_t largest = 0, pixels = uint64_t(latent.at(0)) * uint64_t(latent.at(2)) * uint64_t(latent.at(3));
  for (int i = 0; i < levels; ++i) {  // up block i runs at 4^i times the latent's pixels
    // Its input: conv_in's output, or the previous block's upsampled output (same channels).
    uint64_t in_ch = uint64_t(boc[i == 0 ? levels - 1 : levels - i]), out_ch = uint64_t(boc[levels - 1 - i]);
    largest = std::max(largest, std::max(in_ch, out_ch) * pixels);
    pixels *= 4;
  }
  return largest * dtype_bytes(params_.dtype());
}

void Decoder::check_output() const { check_finite(params_.context(), count_, "vae decoder output"); }
void Decoder::check_output(const Sequence& s) const { check_finite(s, count_, "vae decoder output"); }

}  // namespace sdvk::vae
