#include "nn/resnet_block_2d.h"

#include "core/error.h"
#include "ops/binary.h"

namespace sdvk::nn {

ResnetBlock2D ResnetBlock2D::load(const Params& p, int64_t in, int64_t out, int64_t temb_channels, int groups,
                                  float eps) {
  ResnetBlock2D r;
  r.norm1 = GroupNorm::load(p.at("norm1"), in);
  r.conv1 = Conv2d::load(p.at("conv1"), out, in, 3);
  if (temb_channels > 0) r.time_emb_proj = Linear::load(p.at("time_emb_proj"), out, temb_channels);
  r.norm2 = GroupNorm::load(p.at("norm2"), out);
  r.conv2 = Conv2d::load(p.at("conv2"), out, out, 3);
  if (in != out) r.conv_shortcut = Conv2d::load(p.at("conv_shortcut"), out, in, 1);
  r.groups = groups;
  r.eps = eps;
  return r;
}

Tensor ResnetBlock2D::forward(Sequence& s, const Tensor& x, const Tensor* temb_silu, const std::string& name) const {
  const int64_t B = x.dim(0), in_c = x.dim(1), H = x.dim(2), W = x.dim(3), out_c = out_channels();
  const DType dt = x.dtype();
  const std::string p = name + ".";
  if (in_c != norm1.weight.dim(0))
    throw Error(name + ": input has " + std::to_string(in_c) + " channels, the block " + std::to_string(norm1.weight.dim(0)));
  if (time_emb_proj.weight.defined() != (temb_silu != nullptr))
    throw Error(name + ": time embedding given to a block without time_emb_proj, or missing");
  Tensor h = s.temp(x.shape(), dt, p + "norm1");                                      // [B,Cin,H,W]
  norm1.forward(s, x, h, groups, eps, true);
  Tensor h1 = s.temp({B, out_c, H, W}, dt, p + "conv1");                              // [B,Cout,H,W]
  conv1.forward(s, h, h1, ops::conv_params(1, 1));
  if (temb_silu) {
    Tensor t = s.temp({B, out_c}, dt, p + "time_emb_proj");                           // [B,Cout]
    time_emb_proj.forward(s, *temb_silu, t);
    ops::binary(s, ops::BinaryOp::Add, h1, t.reshape({B, out_c, 1, 1}), h1);          // [B,Cout,H,W]
  }
  Tensor h2 = s.temp({B, out_c, H, W}, dt, p + "norm2");                              // [B,Cout,H,W]
  norm2.forward(s, h1, h2, groups, eps, true);
  Tensor shortcut = x;                                                                // [B,Cout,H,W]
  if (conv_shortcut.weight.defined()) {
    shortcut = s.temp({B, out_c, H, W}, dt, p + "conv_shortcut");
    conv_shortcut.forward(s, x, shortcut, ops::conv_params(1, 0));
  }
  Tensor y = s.temp({B, out_c, H, W}, dt, p + "out");                                 // [B,Cout,H,W]
  conv2.forward(s, h2, y, ops::conv_params(1, 1), &shortcut);                         // + shortcut
  return y;
}

}  // namespace sdvk::nn
