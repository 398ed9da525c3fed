#include "clip/encoder_layer.h"

#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace sdvk::nn {

LayerNormWeights LayerNormWeights::load(const Params& p, int64_t width) {
  return {p.get("weight", {width}), p.get("bias", {width})};
}

LinearWeights LinearWeights::load(const Params& p, int64_t out, int64_t in) {
  return {p.get("weight", {out, in}), p.get("bias", {out})};
}

ClipEncoderLayer ClipEncoderLayer::load(const Params& p, int64_t W, int64_t I) {
  ClipEncoderLayer e;
  e.layer_norm1 = LayerNormWeights::load(p.at("layer_norm1"), W);
  e.q_proj = LinearWeights::load(p.at("self_attn.q_proj"), W, W);
  e.k_proj = LinearWeights::load(p.at("self_attn.k_proj"), W, W);
  e.v_proj = LinearWeights::load(p.at("self_attn.v_proj"), W, W);
  e.out_proj = LinearWeights::load(p.at("self_attn.out_proj"), W, W);
  e.layer_norm2 = LayerNormWeights::load(p.at("layer_norm2"), W);
  e.fc1 = LinearWeights::load(p.at("mlp.fc1"), I, W);
  e.fc2 = LinearWeights::load(p.at("mlp.fc2"), W, I);
  return e;
}

void ClipEncoderLayer::forward(Sequence& s, const Tensor& h, const Options& o) const {
  const Shape shape = h.shape();  // [B,T,W]
  const DType dt = h.dtype();
  const std::string& tag = o.tag;
  Tensor x = s.temp(shape, dt, tag + ".ln");                                             // [B,T,W]
  ops::layer_norm(s, h, layer_norm1.weight, layer_norm1.bias, x, o.eps);                 // [B,T,W]
  Tensor q = s.temp(shape, dt, tag + ".q"), k = s.temp(shape, dt, tag + ".k");
  Tensor v = s.temp(shape, dt, tag + ".v"), a = s.temp(shape, dt, tag + ".attn");
  ops::linear(s, x, q_proj.weight, &q_proj.bias, q);                                     // [B,T,W]
  ops::linear(s, x, k_proj.weight, &k_proj.bias, k);                                     // [B,T,W]
  ops::linear(s, x, v_proj.weight, &v_proj.bias, v);                                     // [B,T,W]
  ops::attention(s, q, k, v, a, o.heads, o.causal);                                      // [B,T,H*D]
  ops::linear(s, a, out_proj.weight, &out_proj.bias, h, {.residual = &h});               // h += attn
  ops::layer_norm(s, h, layer_norm2.weight, layer_norm2.bias, x, o.eps);                 // [B,T,W]
  Tensor m = s.temp({shape[0], shape[1], fc1.weight.dim(0)}, dt, tag + ".mlp");          // [B,T,I]
  ops::linear(s, x, fc1.weight, &fc1.bias, m, {.has_activation = true, .activation = o.activation});
  ops::linear(s, m, fc2.weight, &fc2.bias, h, {.residual = &h});                         // h += mlp
}

}  // namespace sdvk::nn
