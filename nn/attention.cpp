#include "nn/attention.h"

#include "ops/attention.h"
#include "ops/permute.h"

namespace sdvk::nn {

Attention Attention::load(const Params& p, int64_t C, int64_t Ck, int heads, bool qkv_bias) {
  Attention a;
  a.to_q = Linear::load(p.at("to_q"), C, C, qkv_bias);
  a.to_k = Linear::load(p.at("to_k"), C, Ck, qkv_bias);
  a.to_v = Linear::load(p.at("to_v"), C, Ck, qkv_bias);
  a.to_out_0 = Linear::load(p.at("to_out.0"), C, C);
  a.heads = heads;
  return a;
}

Attention Attention::load_spatial(const Params& p, int64_t C, int groups, float eps) {
  Attention a = load(p, C, C, 1, true);
  a.group_norm = GroupNorm::load(p.at("group_norm"), C);
  a.groups = groups;
  a.eps = eps;
  return a;
}

Tensor Attention::forward(Sequence& s, const Tensor& hidden, const Tensor& context, const Tensor& residual,
                          const std::string& name) const {
  const int64_t B = hidden.dim(0), T = hidden.dim(1), C = to_q.out_features(), Tk = context.dim(1);
  const DType dt = hidden.dtype();
  const std::string a = name + ".";
  Tensor q = s.temp({B, T, C}, dt, a + "q");                                           // [B,T,C]
  Tensor k = s.temp({B, Tk, C}, dt, a + "k");                                          // [B,Tk,C]
  Tensor v = s.temp({B, Tk, C}, dt, a + "v");                                          // [B,Tk,C]
  to_q.forward(s, hidden, q);
  to_k.forward(s, context, k);
  to_v.forward(s, context, v);
  Tensor o = s.temp({B, T, C}, dt, a + "attn");                                        // [B,T,C]
  ops::attention(s, q, k, v, o, heads);                                                // 1/sqrt(C/heads)
  Tensor y = s.temp({B, T, C}, dt, a + "out");                                         // [B,T,C]
  to_out_0.forward(s, o, y, {.residual = &residual});                                  // + residual
  return y;
}

Tensor Attention::forward_spatial(Sequence& s, const Tensor& x, const std::string& name) const {
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), T = H * W;
  const DType dt = x.dtype();
  Tensor normed = s.temp(x.shape(), dt, name + ".group_norm");                         // [B,C,H,W]
  group_norm.forward(s, x, normed, groups, eps, false);
  Tensor tokens = s.temp({B, T, C}, dt, name + ".tokens");                             // [B,HW,C]
  ops::permute(s, normed.reshape({B, C, T}), {0, 2, 1}, tokens);
  Tensor residual = s.temp({B, T, C}, dt, name + ".residual");                         // [B,HW,C]
  ops::permute(s, x.reshape({B, C, T}), {0, 2, 1}, residual);
  Tensor proj = forward(s, tokens, tokens, residual, name);                            // [B,HW,C]
  Tensor y = s.temp(x.shape(), dt, name + ".nchw");                                    // [B,C,H,W]
  ops::permute(s, proj, {0, 2, 1}, y.reshape({B, C, T}));
  return y;
}

}  // namespace sdvk::nn
