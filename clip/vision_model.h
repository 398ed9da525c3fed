// CLIPVisionModelWithProjection's path inside a whole CLIPModel ("clip" component): patch
// embedding, class token, position embeddings, pre_layrnorm, encoder (no causal mask),
// post_layernorm on the class token, visual_projection -> image_embeds. Plus the cosine
// similarity CLIPModel's logits are built from.
#pragma once
#include "clip/encoder_layer.h"
#include <cstdint>
#include <vector>

#include "model/weights.h"
#include "ops/unary.h"
#include "vk/sequence.h"

namespace sdvk {

struct ClipVisionOutputs {
  Tensor pooler_output;   // [B,W] post_layernorm(class token)
  Tensor image_embeds;    // [B,P] pooler_output @ visual_projection^T
  Tensor nonfinite;       // [1] F32 NaN/Inf count of image_embeds
};

class ClipVisionModel {
 public:
  ClipVisionModel(Context& ctx, const Component& clip, DType dtype);

  int64_t image_size() const { return image_; }
  int64_t width() const { return width_; }
  int64_t projection_dim() const { return projection_dim_; }
  DType dtype() const { return dtype_; }

  // pixel_values: [B,C,S,S] already normalised, in the model's dtype. Outputs are kept.
  ClipVisionOutputs forward(Sequence& s, const Tensor& pixel_values) const;
  static void check(Context& ctx, const ClipVisionOutputs& o);  // after s.run()

  // cos[i*T + j] = cosine(image i, text j) of image_embeds [I,P] and text_embeds [T,P] (host).
  static std::vector<float> cosine_image_text(const std::vector<float>& image_embeds,
                                              const std::vector<float>& text_embeds, int64_t P);

 private:

  Context& ctx_;
  DType dtype_;
  int64_t width_ = 0, intermediate_ = 0, image_ = 0, patch_ = 0, channels_ = 0, projection_dim_ = 0;
  int heads_ = 0;
  float eps_ = 1e-5f;
  ops::Activation act_ = ops::Activation::QuickGelu;
  Tensor class_embedding;      // embeddings.class_embedding [1,W]
  Tensor patch_embedding;      // embeddings.patch_embedding.weight [W,C,p,p]
  Tensor position_embedding;   // embeddings.position_embedding.weight [g*g+1,W]
  nn::LayerNorm pre_layrnorm, post_layernorm;
  std::vector<ClipEncoderLayer> layers;
  Tensor visual_projection;    // [P,W]
};

}  // namespace sdvk
