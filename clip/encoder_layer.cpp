#include "clip/encoder_layer.h"

#include "ops/attention.h"

namespace sdvk {

ClipEncoderLayer ClipEncoderLayer::load(const nn::Params& p, int64_t W, int64_t I) {
  ClipEncoderLayer e;
  e.layer_norm1 = nn::LayerNorm::load(p.at("layer_norm1"), W);
  e.q_proj = nn::Linear::load(p.at("self_attn.q_proj"), W, W);
  e.k_proj = nn::Linear::load(p.at("self_attn.k_proj"), W, W);
  e.v_proj = nn::Linear::load(p.at("self_attn.v_proj"), W, W);
  e.out_proj = nn::Linear::load(p.at("self_attn.out_proj"), W, W);
  e.layer_norm2 = nn::LayerNorm::load(p.at("layer_norm2"), W);
  e.fc1 = nn::Linear::load(p.at("mlp.fc1"), I, W);
  e.fc2 = nn::Linear::load(p.at("mlp.fc2"), W, I);
  return e;
}

void ClipEncoderLayer::forward(Sequence& s, const Tensor& h, const Options& o) const {
  const Shape shape = h.shape();  // [B,T,W]
  const DType dt = h.dtype();
  const std::string& tag = o.tag;
  Tensor x = s.temp(shape, dt, tag + ".ln");                                             // [B,T,W]
  layer_norm1.forward(s, h, x, o.eps);                                                   // [B,T,W]
  Tensor q = s.temp(shape, dt, tag + ".q"), k = s.temp(shape, dt, tag + ".k");
  Tensor v = s.temp(shape, dt, tag + ".v"), a = s.temp(shape, dt, tag + ".attn");
  q_proj.forward(s, x, q);                                                               // [B,T,W]
  k_proj.forward(s, x, k);                                                               // [B,T,W]
  v_proj.forward(s, x, v);                                                               // [B,T,W]
  ops::attention(s, q, k, v, a, o.heads, o.causal);                                      // [B,T,H*D]
  out_proj.forward(s, a, h, {.residual = &h});                                           // h += attn
  layer_norm2.forward(s, h, x, o.eps);                                                   // [B,T,W]
  Tensor m = s.temp({shape[0], shape[1], fc1.out_features()}, dt, tag + ".mlp");          // [B,T,I]
  fc1.forward(s, x, m, {.has_activation = true, .activation = o.activation});             // [B,T,I]
  fc2.forward(s, m, h, {.residual = &h});                                                // h += mlp
}

}  // namespace sdvk
