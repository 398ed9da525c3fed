#include "vae/decoder.h"

#include <algorithm>

#include "core/error.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/norm.h"
#include "ops/upsample.h"
#include "vae/blocks.h"

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

Tensor Decoder::forward(Sequence& s, const Tensor& latent) {
  const auto& boc = cfg_.block_out_channels;
  const int levels = int(boc.size());
  const int64_t n = latent.dim(0), lc = cfg_.latent_channels, top = boc.back();
  int64_t h = latent.dim(2), w = latent.dim(3);
  const DType dt = params_.dtype();
  if (latent.ndim() != 4 || latent.dim(1) != lc || latent.dtype() != dt)
    throw Error("vae decoder: latent must be [N," + std::to_string(lc) + ",h,w] in the weights' dtype");
  nn::Params d = params_.at("decoder");

  Tensor z = s.temp({n, lc, h, w}, dt, "post_quant_conv");                                   // [N,4,h,w]
  Tensor bpq = params_.get("post_quant_conv.bias", {lc});
  ops::conv2d(s, latent, params_.get("post_quant_conv.weight", {lc, lc, 1, 1}), &bpq, z, ops::conv_params(1, 0));
  Tensor x = s.temp({n, top, h, w}, dt, "decoder.conv_in");                                  // [N,C_top,h,w]
  Tensor bin = d.get("conv_in.bias", {top});
  ops::conv2d(s, z, d.get("conv_in.weight", {top, lc, 3, 3}), &bin, x, ops::conv_params(1, 1));
  x = mid_block(s, d.at("mid_block"), x, cfg_.groups, cfg_.eps, "decoder.mid_block");      // [N,C_top,h,w]

  int64_t out_ch = top;
  for (int i = 0; i < levels; ++i) {
    out_ch = boc[levels - 1 - i];
    const std::string name = "up_blocks." + std::to_string(i);
    nn::Params ub = d.at(name);
    for (int j = 0; j <= cfg_.layers_per_block; ++j)                                          // [N,out_ch,h,w]
      x = resnet_block(s, ub.at("resnets." + std::to_string(j)), x, out_ch, cfg_.groups, cfg_.eps,
                       "decoder." + name + ".resnets." + std::to_string(j));
    if (i != levels - 1) {  // Upsample2D: nearest 2x, then conv 3x3
      Tensor up = s.temp({n, out_ch, 2 * h, 2 * w}, dt, "decoder." + name + ".upsample");     // [N,out_ch,2h,2w]
      ops::upsample_nearest2x(s, x, up);
      h *= 2;
      w *= 2;
      x = s.temp({n, out_ch, h, w}, dt, "decoder." + name + ".upsamplers.0.conv");            // [N,out_ch,2h,2w]
      Tensor bu = ub.get("upsamplers.0.conv.bias", {out_ch});
      ops::conv2d(s, up, ub.get("upsamplers.0.conv.weight", {out_ch, out_ch, 3, 3}), &bu, x, ops::conv_params(1, 1));
    }
  }
  Tensor normed = s.temp({n, out_ch, h, w}, dt, "decoder.conv_norm_out");                    // [N,C0,H,W]
  ops::group_norm(s, x, d.get("conv_norm_out.weight", {out_ch}), d.get("conv_norm_out.bias", {out_ch}), normed,
                  cfg_.groups, cfg_.eps, true);
  Tensor y = s.temp({n, cfg_.out_channels, h, w}, dt, "decoder.conv_out");                  // [N,3,H,W]
  Tensor bout = d.get("conv_out.bias", {cfg_.out_channels});
  ops::conv2d(s, normed, d.get("conv_out.weight", {cfg_.out_channels, out_ch, 3, 3}), &bout, y,
              ops::conv_params(1, 1));
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
