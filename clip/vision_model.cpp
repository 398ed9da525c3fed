#include "clip/vision_model.h"

#include <cmath>

#include "core/error.h"
#include "core/json.h"
#include "nn/params.h"
#include "ops/attention.h"
#include "ops/binary.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/embedding.h"
#include "ops/layer_norm.h"
#include "ops/matmul.h"
#include "ops/nonfinite.h"
#include "ops/permute.h"

namespace sdvk {

namespace {

}  // namespace

ClipVisionModel::ClipVisionModel(Context& ctx, const Component& clip, DType dtype) : ctx_(ctx), dtype_(dtype) {
  if (!clip.config.contains("vision_config")) throw Error(clip.name + ": not a CLIPModel (no vision_config)");
  ConfigView c(clip.config["vision_config"], clip.name + ".vision_config");
  width_ = c.integer("hidden_size", 1, 1 << 16);
  intermediate_ = c.integer("intermediate_size", 1, 1 << 20);
  image_ = c.integer("image_size", 1, 1 << 14);
  patch_ = c.integer("patch_size", 1, 1 << 14);
  channels_ = c.integer("num_channels", 1, 64);
  heads_ = int(c.integer("num_attention_heads", 1, 1 << 10));
  int layers_n = int(c.integer("num_hidden_layers", 1, 1 << 10));
  eps_ = float(c.number("layer_norm_eps"));
  std::string act = c.string("hidden_act");
  if (act == "quick_gelu") act_ = ops::Activation::QuickGelu;
  else if (act == "gelu") act_ = ops::Activation::GeluErf;
  else c.fail("hidden_act", "'" + act + "' is not supported");
  projection_dim_ = ConfigView(clip.config, clip.name).integer("projection_dim", 1, 1 << 16);
  const int64_t W = width_, I = intermediate_, g = image_ / patch_;

  nn::Params params(ctx, clip, dtype);
  nn::Params v = params.at("vision_model");
  class_embedding = v.get("embeddings.class_embedding", {1, W});
  patch_embedding = v.get("embeddings.patch_embedding.weight", {W, channels_, patch_, patch_});
  position_embedding = v.get("embeddings.position_embedding.weight", {g * g + 1, W});
  pre_layrnorm = nn::LayerNorm::load(v.at("pre_layrnorm"), W);
  for (int i = 0; i < layers_n; i++)
    layers.push_back(ClipEncoderLayer::load(v.at("encoder.layers." + std::to_string(i)), W, I));
  post_layernorm = nn::LayerNorm::load(v.at("post_layernorm"), W);
  visual_projection = params.get("visual_projection.weight", {projection_dim_, W});
}

ClipVisionOutputs ClipVisionModel::forward(Sequence& s, const Tensor& pixel_values) const {
  const Shape want{pixel_values.ndim() == 4 ? pixel_values.dim(0) : 0, channels_, image_, image_};
  if (pixel_values.shape() != want || pixel_values.dtype() != dtype_)
    throw Error("clip vision: pixel_values must be " + std::string(dtype_name(dtype_)) + " " + shape_str(want) +
                ", got " + shape_str(pixel_values.shape()));
  const int64_t B = want[0], W = width_, g = image_ / patch_, P = g * g, N = P + 1;
  // Constant gather indices: class token row 0 for every image; class token of image b at b*N.
  std::vector<float> zeros(B, 0.0f), firsts(B);
  for (int64_t b = 0; b < B; b++) firsts[b] = float(b * N);
  Tensor zero_ids = Tensor::from_floats(ctx_, {B, 1}, DType::F32, zeros, "clipv.class_ids");
  Tensor first_rows = Tensor::from_floats(ctx_, {B}, DType::F32, firsts, "clipv.class_rows");

  Tensor grid = s.temp({B, W, g, g}, dtype_, "clipv.patches");
  ops::conv2d(s, pixel_values, patch_embedding, nullptr, grid, ops::conv_params(int(patch_), 0));  // [B,W,g,g]
  Tensor patches = s.temp({B, P, W}, dtype_, "clipv.patch_tokens");
  ops::permute(s, grid.reshape({B, W, P}), {0, 2, 1}, patches);                    // [B,P,W]
  Tensor cls = s.temp({B, 1, W}, dtype_, "clipv.class");
  ops::embedding(s, zero_ids, class_embedding, cls);                               // [B,1,W]
  Tensor e = s.temp({B, N, W}, dtype_, "clipv.embeddings");
  ops::concat(s, {cls, patches}, 1, e);                                            // [B,N,W]
  ops::binary(s, ops::BinaryOp::Add, e, position_embedding, e);                    // [B,N,W] + [N,W]
  Tensor h = s.temp({B, N, W}, dtype_, "clipv.hidden");
  ops::layer_norm(s, e, pre_layrnorm.weight, pre_layrnorm.bias, h, eps_);           // [B,N,W]
  for (const auto& l : layers) l.forward(s, h, {heads_, false, act_, eps_, "clipv"});  // [B,N,W]
  ClipVisionOutputs out;
  Tensor pooled = s.temp({B, W}, dtype_, "clipv.class_token");
  ops::embedding(s, first_rows, h.reshape({B * N, W}), pooled);                    // [B,W] h[:,0,:]
  out.pooler_output = s.temp({B, W}, dtype_, "clipv.pooler_output");
  ops::layer_norm(s, pooled, post_layernorm.weight, post_layernorm.bias, out.pooler_output, eps_);  // [B,W]
  out.image_embeds = s.temp({B, projection_dim_}, dtype_, "clipv.image_embeds");
  ops::linear(s, out.pooler_output, visual_projection, nullptr, out.image_embeds); // [B,P]
  out.nonfinite = s.temp({1}, DType::F32, "clipv.nonfinite");
  ops::nonfinite(s, out.image_embeds, out.nonfinite);
  s.keep(out.pooler_output);
  s.keep(out.image_embeds);
  s.keep(out.nonfinite);
  return out;
}

void ClipVisionModel::check(Context& ctx, const ClipVisionOutputs& o) {
  if (uint64_t n = ops::read_count(ctx, o.nonfinite))
    throw Error("clip vision tower: " + std::to_string(n) + " NaN/Inf values in image_embeds");
}

std::vector<float> ClipVisionModel::cosine_image_text(const std::vector<float>& image_embeds,
                                                      const std::vector<float>& text_embeds, int64_t P) {
  const int64_t I = int64_t(image_embeds.size()) / P, T = int64_t(text_embeds.size()) / P;
  auto norm = [&](const float* v) {
    double n = 0;
    for (int64_t k = 0; k < P; k++) n += double(v[k]) * v[k];
    return std::sqrt(n);
  };
  std::vector<float> cos(I * T);
  for (int64_t i = 0; i < I; i++)
    for (int64_t j = 0; j < T; j++) {
      const float *a = image_embeds.data() + i * P, *b = text_embeds.data() + j * P;
      double d = 0;
      for (int64_t k = 0; k < P; k++) d += double(a[k]) * b[k];
      cos[i * T + j] = float(d / (norm(a) * norm(b)));
    }
  return cos;
}

}  // namespace sdvk
