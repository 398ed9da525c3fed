#include "clip/text_model.h"

#include "core/error.h"
#include "core/json.h"
#include "ops/attention.h"
#include "ops/binary.h"
#include "ops/cast.h"
#include "ops/embedding.h"
#include "ops/layer_norm.h"
#include "ops/matmul.h"
#include "ops/nonfinite.h"
#include "ops/permute.h"

namespace sdvk {

ClipTextModel::ClipTextModel(Context& ctx, const Component& component, DType dtype) : dtype_(dtype) {
  const bool whole = component.config.contains("text_config");
  const nlohmann::json& cfg = whole ? component.config["text_config"] : component.config;
  ConfigView c(cfg, component.name + (whole ? ".text_config" : ""));
  width_ = c.integer("hidden_size", 1, 1 << 16);
  intermediate_ = c.integer("intermediate_size", 1, 1 << 20);
  positions_ = c.integer("max_position_embeddings", 1, 1 << 16);
  layers_ = int(c.integer("num_hidden_layers", 1, 1 << 10));
  heads_ = int(c.integer("num_attention_heads", 1, 1 << 10));
  eos_id_ = c.integer("eos_token_id", 0, 1 << 24);
  eps_ = float(c.number("layer_norm_eps"));
  std::string act = c.string("hidden_act");
  if (act == "quick_gelu") act_ = ops::Activation::QuickGelu;
  else if (act == "gelu") act_ = ops::Activation::GeluErf;
  else c.fail("hidden_act", "'" + act + "' is not supported");
  if (width_ % heads_) c.fail("num_attention_heads", "does not divide hidden_size");
  int64_t vocab = c.integer("vocab_size", 1, 1 << 24);

  nn::Params params(ctx, component, dtype);
  nn::Params t = params.at("text_model");
  const int64_t W = width_, I = intermediate_;
  token_embedding = t.get("embeddings.token_embedding.weight", {vocab, W});
  position_embedding = t.get("embeddings.position_embedding.weight", {positions_, W});
  for (int i = 0; i < layers_; i++)
    layers.push_back(ClipEncoderLayer::load(t.at("encoder.layers." + std::to_string(i)), W, I));
  final_layer_norm = nn::LayerNorm::load(t.at("final_layer_norm"), W);
  has_projection_ = params.has("text_projection.weight");
  if (has_projection_) {
    projection_dim_ = whole ? ConfigView(component.config, component.name).integer("projection_dim", 1, 1 << 16)
                            : c.integer("projection_dim", 1, 1 << 16);
    text_projection = params.get("text_projection.weight", {projection_dim_, W});
  }
}

std::vector<float> ClipTextModel::pooled_rows(const std::vector<float>& ids, int64_t batch, int64_t tokens) const {
  if (int64_t(ids.size()) != batch * tokens) throw Error("clip text: ids do not hold [batch, tokens] values");
  std::vector<float> rows(batch);
  for (int64_t b = 0; b < batch; b++) {
    const float* r = ids.data() + b * tokens;
    int64_t pos = -1;
    if (eos_id_ == 2) {  // transformers' legacy configs: the highest id (eos) by argmax
      pos = 0;
      for (int64_t j = 1; j < tokens; j++)
        if (r[j] > r[pos]) pos = j;
    } else {
      for (int64_t j = 0; j < tokens && pos < 0; j++)
        if (int64_t(r[j]) == eos_id_) pos = j;
    }
    if (pos < 0) throw Error("clip text: row " + std::to_string(b) + " holds no eos id " + std::to_string(eos_id_));
    rows[b] = float(b * tokens + pos);
  }
  return rows;
}

ClipTextOutputs ClipTextModel::forward(Sequence& s, const Tensor& input_ids, const Tensor& pooled_rows,
                                       int clip_skip, bool raw) const {
  if (clip_skip < 1 || clip_skip > layers_)
    throw Error("clip text: clip skip " + std::to_string(clip_skip) + " outside 1.." + std::to_string(layers_) +
                " (the model has " + std::to_string(layers_) + " layers)");
  if (input_ids.ndim() != 2 || input_ids.dtype() != DType::F32)
    throw Error("clip text: input_ids must be float32 [B,T], got " + shape_str(input_ids.shape()));
  const int64_t B = input_ids.dim(0), T = input_ids.dim(1), W = width_;
  if (T > positions_)
    throw Error("clip text: " + std::to_string(T) + " tokens exceed max_position_embeddings " +
                std::to_string(positions_));
  if (pooled_rows.shape() != Shape{B} || pooled_rows.dtype() != DType::F32)
    throw Error("clip text: pooled_rows must be float32 [" + std::to_string(B) + "]");
  Context& ctx = s.context();
  ClipTextOutputs out;
  Tensor h = s.temp({B, T, W}, dtype_, "clip.hidden");                               // [B,T,W]
  ops::embedding(s, input_ids, token_embedding, h);                                  // [B,T,W]
  ops::binary(s, ops::BinaryOp::Add, h, position_embedding.view(0, {T, W}, ctx), h);  // [B,T,W] + [T,W]
  out.penultimate_hidden_state_normed = s.temp({B, T, W}, dtype_, "clip.penultimate_hidden_state_normed");
  if (raw) out.penultimate_hidden_state = s.temp({B, T, W}, dtype_, "clip.penultimate_hidden_state");
  // The chosen layer's output, normalised (and copied as it is when asked).
  auto take_skip = [&] {
    ops::layer_norm(s, h, final_layer_norm.weight, final_layer_norm.bias, out.penultimate_hidden_state_normed, eps_);
    if (raw) ops::cast(s, h, out.penultimate_hidden_state);                           // a copy: same dtype
  };
  const int skipped_after = layers_ - 1 - clip_skip;  // -1: the embeddings' output
  if (skipped_after < 0) take_skip();
  for (int i = 0; i < layers_; i++) {
    layers[i].forward(s, h, {heads_, true, act_, eps_, "clip"});                     // [B,T,W]
    if (i == skipped_after) take_skip();                                             // [B,T,W]
  }
  out.last_hidden_state = s.temp({B, T, W}, dtype_, "clip.last_hidden_state");
  ops::layer_norm(s, h, final_layer_norm.weight, final_layer_norm.bias, out.last_hidden_state, eps_);  // [B,T,W]
  out.pooler_output = s.temp({B, W}, dtype_, "clip.pooler_output");
  ops::embedding(s, pooled_rows, out.last_hidden_state.reshape({B * T, W}), out.pooler_output);  // [B,W] gather
  if (has_projection_) {
    out.text_embeds = s.temp({B, projection_dim_}, dtype_, "clip.text_embeds");
    ops::linear(s, out.pooler_output, text_projection, nullptr, out.text_embeds);   // [B,P]
  }
  out.nonfinite_last = s.temp({1}, DType::F32, "clip.nonfinite_last");
  out.nonfinite_penultimate = s.temp({1}, DType::F32, "clip.nonfinite_penultimate");
  ops::nonfinite(s, out.last_hidden_state, out.nonfinite_last);
  ops::nonfinite(s, out.penultimate_hidden_state_normed, out.nonfinite_penultimate);
  for (const Tensor* t : {&out.last_hidden_state, &out.penultimate_hidden_state_normed,
                          &out.penultimate_hidden_state, &out.pooler_output,
                          &out.text_embeds, &out.nonfinite_last, &out.nonfinite_penultimate})
    if (t->defined()) s.keep(*t);
  return out;
}

ClipTextRun ClipTextModel::run(Context& ctx, const std::vector<float>& ids, int64_t B, int64_t T, int clip_skip) const {
  ClipTextRun r;
  r.input_ids = Tensor::from_floats(ctx, {B, T}, DType::F32, ids, "input_ids");
  r.pooled_rows = Tensor::from_floats(ctx, {B}, DType::F32, pooled_rows(ids, B, T), "pooled_rows");
  r.sequence = std::make_unique<Sequence>(ctx);
  r.outputs = forward(*r.sequence, r.input_ids, r.pooled_rows, clip_skip);
  r.sequence->run();
  check(ctx, r.outputs);
  return r;
}

void ClipTextModel::check(Context& ctx, const ClipTextOutputs& o) {
  if (uint64_t n = ops::read_count(ctx, o.nonfinite_penultimate))
    throw Error("clip text encoder: " + std::to_string(n) + " NaN/Inf values in the penultimate hidden state");
  if (uint64_t n = ops::read_count(ctx, o.nonfinite_last))
    throw Error("clip text encoder: " + std::to_string(n) + " NaN/Inf values in the last hidden state");
}

}  // namespace sdvk
