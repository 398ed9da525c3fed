// CLIP score of images against prompts with a whole CLIPModel ("clip" component): the text and
// vision towers on the device, preprocessing and cosine on the host. Reusable: the weights are
// uploaded once, then any number of scores() calls run in batches of kBatch.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clip/preprocess.h"
#include "clip/text_model.h"
#include "clip/vision_model.h"
#include "image/image.h"
#include "model/weights.h"
#include "text_encoder/tokenizer.h"

namespace sdvk {

struct ClipScore {
  float cosine = 0;  // cosine(image_embeds, text_embeds)
  float score = 0;   // CLIP score = 100 * max(cosine, 0)
};

class ClipScorer {
 public:
  static constexpr int64_t kBatch = 8;  // images (or prompts) per Sequence: bounds activation memory

  // Uploads both towers stored as `dtype`. `tokenizer` may be null: then only token ids can be
  // scored. The preprocessing comes from preprocessor_config.json beside the component's
  // config.json (or its weight file; OpenAI CLIP's defaults without one), fitted to the vision tower's image_size
  // (see load_clip_preprocess_config; preprocess_note() says when that changed anything).
  ClipScorer(Context& ctx, const Component& clip, std::shared_ptr<const Tokenizer> tokenizer, DType dtype);

  // Loads a CLIP model folder or .safetensors file (WeightSet::load with `options`) and its
  // tokenizer (`tokenizer_dir`, else find_tokenizer(); finding none is an Error when
  // `need_tokenizer`). The weights are on the device afterwards; the files are released.
  static std::unique_ptr<ClipScorer> open(Context& ctx, const std::string& path, DType dtype,
                                          const LoadOptions& options = {}, const std::string& tokenizer_dir = "",
                                          bool need_tokenizer = true);

  // Where a CLIP model's tokenizer lives: vocab.json + merges.txt (or spiece.model) in the model folder itself
  // (Hugging Face CLIPModel layout), in its tokenizer/ subfolder, or in the pipeline's
  // tokenizer folder; for a single file, beside it. "" when none of these exists.
  static std::string find_tokenizer(const WeightSet& weights);

  // One score per image: images[i] against prompts[i] (sizes must match).
  std::vector<ClipScore> scores(const std::vector<Image>& images, const std::vector<std::string>& prompts) const;

  // Embeddings (projected, not normalised), [N,P] row-major.
  std::vector<float> embed_images(const std::vector<Image>& images) const;
  std::vector<float> embed_pixel_values(const std::vector<float>& pixel_values, int64_t n) const;  // [N,3,S,S]
  std::vector<float> embed_texts(const std::vector<std::string>& prompts) const;
  std::vector<float> embed_token_ids(const std::vector<float>& ids, int64_t n, int64_t tokens) const;  // [N,T]

  static float clip_score(float cosine) { return 100.0f * (cosine > 0 ? cosine : 0.0f); }

  // exp(logit_scale) of the checkpoint, capped at 100 as CLIP's training clamps it (from
  // logit_scale_init_value when the file has no logit_scale): the temperature of zero-shot softmax.
  float logit_scale() const { return logit_scale_; }

  int64_t projection_dim() const { return vision_.projection_dim(); }
  int64_t image_size() const { return vision_.image_size(); }
  const ClipPreprocessConfig& preprocess() const { return preprocess_; }
  const std::string& preprocess_note() const { return preprocess_note_; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }  // null without one

 private:
  Context& ctx_;
  std::string name_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  ClipTextModel text_;
  ClipVisionModel vision_;
  ClipPreprocessConfig preprocess_;
  std::string preprocess_note_;
  float logit_scale_ = 100.0f;
};

}  // namespace sdvk
