// Transformer2DModel (diffusers v0.21.4, continuous input) with BasicTransformerBlocks
// (self-attention, cross-attention, GEGLU feed-forward), as the SD UNets' attentions.* use it:
//   x [B,C,H,W] -> norm (GroupNorm, eps 1e-6) -> proj_in -> tokens [B,HW,C] -> blocks
//   -> proj_out -> + x
// proj_in / proj_out are nn.Linear with use_linear_projection (SD 2.x), else 1x1 convs (SD 1.x),
// which equal linear layers on the tokens and run as such.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/layers.h"

namespace sdvk::nn {

struct FeedForward {  // ff.*, activation_fn "geglu"; checkpoint shapes [out,in] (nn::Linear transposes)
  Linear net_0_proj;  // net.0.proj: [8C,C] (GEGLU's value and gate halves)
  Linear net_2;       // net.2: [C,4C]
};

struct BasicTransformerBlock {  // transformer_blocks.<i>.*
  LayerNorm norm1, norm2, norm3;  // [C] each, eps 1e-5
  Attention attn1, attn2;         // self-attention; cross-attention on the context
  FeedForward ff;

  static BasicTransformerBlock load(const Params& p, int64_t channels, int64_t cross_dim, int heads);
  // h [B,HW,C], context [B,Tk,Ck] -> [B,HW,C]; each stage adds its input back.
  Tensor forward(Sequence& s, const Tensor& h, const Tensor& context, const std::string& name) const;
};

struct Transformer2DModel {
  GroupNorm norm;                                       // [C]
  Linear proj_in;                                       // [C,C] (a 1x1 conv's [C,C,1,1] stored)
  std::vector<BasicTransformerBlock> transformer_blocks;
  Linear proj_out;                                      // [C,C] (likewise)
  int groups = 32;

  static Transformer2DModel load(const Params& p, int64_t channels, int64_t cross_dim, int heads, int layers,
                                 int groups);
  // x [B,C,H,W], context [B,Tk,Ck] -> [B,C,H,W].
  Tensor forward(Sequence& s, const Tensor& x, const Tensor& context, const std::string& name) const;
};

}  // namespace sdvk::nn
