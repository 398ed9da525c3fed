// diffusers Attention (v0.21.4, AttnProcessor): to_q / to_k / to_v, scaled dot-product over
// `heads` heads (scores and softmax in float32 whatever the storage: upcast_attention holds),
// to_out.0 with the residual added in its epilogue. Two uses:
//  - the UNet's BasicTransformerBlock: self- (attn1) and cross-attention (attn2) on tokens,
//    no q/k/v bias;
//  - the VAE's mid block: one head over the pixels of an image, with bias and group_norm.
#pragma once
#include <cstdint>
#include <string>

#include "nn/layers.h"

namespace sdvk::nn {

struct Attention {
  GroupNorm group_norm;          // [C]; only where norm_num_groups is set (the VAE's)
  // Linear shapes here and in the other modules are the checkpoint's [out,in] (nn::Linear holds
  // them transposed).
  Linear to_q, to_k, to_v;       // [C,C], [C,Ck], [C,Ck]; bias only with qkv bias (the VAE's)
  Linear to_out_0;               // to_out.0: [C,C] with bias
  int heads = 1;
  int groups = 32;               // of group_norm
  float eps = 1e-6f;

  // cross_dim: Ck, the width of the context (query_dim for self-attention).
  static Attention load(const Params& p, int64_t query_dim, int64_t cross_dim, int heads, bool qkv_bias);
  // As the VAE's mid block builds it: one head, bias, group_norm(groups, eps).
  static Attention load_spatial(const Params& p, int64_t channels, int groups, float eps);

  // hidden [B,T,C], context [B,Tk,Ck] (hidden itself for self-attention), residual [B,T,C]
  // -> to_out.0(attention) + residual [B,T,C]. `name` prefixes the temporaries' names.
  Tensor forward(Sequence& s, const Tensor& hidden, const Tensor& context, const Tensor& residual,
                 const std::string& name) const;
  // The VAE's: x [B,C,H,W] -> group_norm -> tokens [B,HW,C] -> forward (x's tokens as the
  // residual) -> [B,C,H,W].
  Tensor forward_spatial(Sequence& s, const Tensor& x, const std::string& name) const;
};

}  // namespace sdvk::nn
