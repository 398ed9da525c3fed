#include "nn/transformer_2d.h"

#include "core/error.h"
#include "ops/binary.h"
#include "ops/geglu.h"
#include "ops/permute.h"

namespace sdvk::nn {

BasicTransformerBlock BasicTransformerBlock::load(const Params& p, int64_t C, int64_t cross_dim, int heads) {
  BasicTransformerBlock b;
  b.norm1 = LayerNorm::load(p.at("norm1"), C);
  b.attn1 = Attention::load(p.at("attn1"), C, C, heads, false);
  b.norm2 = LayerNorm::load(p.at("norm2"), C);
  b.attn2 = Attention::load(p.at("attn2"), C, cross_dim, heads, false);
  b.norm3 = LayerNorm::load(p.at("norm3"), C);
  b.ff.net_0_proj = Linear::load(p.at("ff.net.0.proj"), 8 * C, C);
  b.ff.net_2 = Linear::load(p.at("ff.net.2"), C, 4 * C);
  return b;
}

Tensor BasicTransformerBlock::forward(Sequence& s, const Tensor& h, const Tensor& context,
                                      const std::string& name) const {
  const int64_t B = h.dim(0), T = h.dim(1), C = h.dim(2), inner = 4 * C;
  const DType dt = h.dtype();
  const std::string b = name + ".";
  auto norm = [&](const LayerNorm& ln, const std::string& n, const Tensor& in) {
    Tensor y = s.temp({B, T, C}, dt, b + n);                                           // [B,HW,C]
    ln.forward(s, in, y, 1e-5f);
    return y;
  };
  Tensor n1 = norm(norm1, "norm1", h);
  Tensor h1 = attn1.forward(s, n1, n1, h, b + "attn1");                                // [B,HW,C]
  Tensor n2 = norm(norm2, "norm2", h1);
  Tensor h2 = attn2.forward(s, n2, context, h1, b + "attn2");                          // [B,HW,C]
  Tensor n3 = norm(norm3, "norm3", h2);
  Tensor g = s.temp({B, T, 2 * inner}, dt, b + "ff.net.0.proj");                       // [B,HW,8C]
  ff.net_0_proj.forward(s, n3, g);
  Tensor gg = s.temp({B, T, inner}, dt, b + "ff.geglu");                               // [B,HW,4C]
  ops::geglu(s, g, gg);
  Tensor h3 = s.temp({B, T, C}, dt, b + "ff.out");                                     // [B,HW,C]
  ff.net_2.forward(s, gg, h3, {.residual = &h2});                                      // + h2
  return h3;
}

Transformer2DModel Transformer2DModel::load(const Params& p, int64_t C, int64_t cross_dim, int heads, int layers,
                                            int groups) {
  Transformer2DModel t;
  t.norm = GroupNorm::load(p.at("norm"), C);
  t.proj_in = Linear::load(p.at("proj_in"), C, C);
  for (int l = 0; l < layers; ++l)
    t.transformer_blocks.push_back(
        BasicTransformerBlock::load(p.at("transformer_blocks." + std::to_string(l)), C, cross_dim, heads));
  t.proj_out = Linear::load(p.at("proj_out"), C, C);
  t.groups = groups;
  return t;
}

Tensor Transformer2DModel::forward(Sequence& s, const Tensor& x, const Tensor& context, const std::string& name) const {
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), T = H * W;
  const DType dt = x.dtype();
  const std::string p = name + ".";
  Tensor n = s.temp(x.shape(), dt, p + "norm");                                        // [B,C,H,W]
  norm.forward(s, x, n, groups, 1e-6f, false);
  // SD 1.x's 1x1 convs run as the linear layers they equal, on the tokens: the matmul kernels
  // are 2-3x faster than the direct convolution's on lavapipe.
  Tensor nt = s.temp({B, H, W, C}, dt, p + "norm_nhwc");                               // [B,H,W,C]
  ops::permute(s, n, {0, 2, 3, 1}, nt);
  Tensor h = s.temp({B, T, C}, dt, p + "proj_in");                                     // [B,HW,C]
  proj_in.forward(s, nt.reshape({B, T, C}), h);
  for (size_t l = 0; l < transformer_blocks.size(); ++l)
    h = transformer_blocks[l].forward(s, h, context, p + "transformer_blocks." + std::to_string(l));
  Tensor po = s.temp({B, T, C}, dt, p + "proj_out");                                   // [B,HW,C]
  proj_out.forward(s, h, po);
  Tensor pc = s.temp(x.shape(), dt, p + "proj_out_nchw");                              // [B,C,H,W]
  ops::permute(s, po.reshape({B, H, W, C}), {0, 3, 1, 2}, pc);
  Tensor y = s.temp(x.shape(), dt, p + "out");                                         // [B,C,H,W]
  ops::binary(s, ops::BinaryOp::Add, pc, x, y);                                        // + input
  return y;
}

}  // namespace sdvk::nn
