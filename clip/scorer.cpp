#include "clip/scorer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "model/tensor_convert.h"

namespace fs = std::filesystem;

namespace sdvk {
namespace {

// CLIP BPE files, or a sentencepiece model (the bundled demo CLIP), as load_tokenizer reads them.
bool has_tokenizer_files(const fs::path& dir) {
  std::error_code ec;  // an unreadable folder has none (no filesystem_error text for the user)
  return (fs::is_regular_file(dir / "vocab.json", ec) && fs::is_regular_file(dir / "merges.txt", ec)) ||
         fs::is_regular_file(dir / "spiece.model", ec);
}

// The folder a component was read from: its config.json's, else the weight file's.
std::string component_dir(const Component& c) {
  const std::string& from = c.config_file.empty() ? c.source : c.config_file;
  return fs::path(from).parent_path().string();
}

}  // namespace

ClipScorer::ClipScorer(Context& ctx, const Component& clip, std::shared_ptr<const Tokenizer> tokenizer, DType dtype)
    : ctx_(ctx),
      name_(clip.config_file.empty() ? clip.source : component_dir(clip)),
      tokenizer_(std::move(tokenizer)),
      text_(ctx, clip, dtype),
      vision_(ctx, clip, dtype) {
  if (!text_.has_projection()) throw Error(name_ + ": the CLIP text tower has no text_projection");
  if (text_.projection_dim() != vision_.projection_dim())
    throw Error(name_ + ": text projection " + std::to_string(text_.projection_dim()) + " != visual projection " +
                std::to_string(vision_.projection_dim()));
  preprocess_ = load_clip_preprocess_config(component_dir(clip), int(vision_.image_size()), &preprocess_note_);
  float log_scale = clip.config.value("logit_scale_init_value", 2.6592f);
  auto it = clip.tensors.find("logit_scale");
  if (it != clip.tensors.end()) {
    std::vector<float> v = to_f32(it->second);
    if (v.size() != 1) throw Error(name_ + ": logit_scale holds " + std::to_string(v.size()) + " values, expected 1");
    log_scale = v[0];
  }
  if (!std::isfinite(log_scale)) throw Error(name_ + ": logit_scale is not finite");
  logit_scale_ = std::min(std::exp(log_scale), 100.0f);
}

std::unique_ptr<ClipScorer> ClipScorer::open(Context& ctx, const std::string& path, DType dtype, const LoadOptions& options,
                                             const std::string& tokenizer_dir, bool need_tokenizer) {
  WeightSet weights = WeightSet::load(path, options);
  const Component& clip = weights.component("clip");  // throws, listing what the path holds
  std::string tok = tokenizer_dir.empty() ? find_tokenizer(weights) : tokenizer_dir;
  std::shared_ptr<const Tokenizer> tokenizer;
  if (!tok.empty())
    tokenizer = load_tokenizer(tok);
  else if (need_tokenizer)
    throw Error(path + ": no tokenizer (vocab.json + merges.txt, or spiece.model) in the model folder or its tokenizer/ folder");
  return std::make_unique<ClipScorer>(ctx, clip, tokenizer, dtype);
}

std::string ClipScorer::find_tokenizer(const WeightSet& weights) {
  fs::path p(weights.path());
  std::vector<fs::path> candidates;
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    candidates = {p, p / "tokenizer"};
    if (!weights.tokenizer_dir().empty()) candidates.push_back(weights.tokenizer_dir());
  } else {
    candidates = {p.parent_path(), p.parent_path() / "tokenizer"};
  }
  for (auto& c : candidates)
    if (has_tokenizer_files(c)) return c.string();
  return "";
}

std::vector<float> ClipScorer::embed_pixel_values(const std::vector<float>& pixel_values, int64_t n) const {
  const int64_t S = vision_.image_size(), per = 3 * S * S, P = projection_dim();
  if (int64_t(pixel_values.size()) != n * per)
    throw Error(name_ + ": pixel_values hold " + std::to_string(pixel_values.size()) + " values, expected [" +
                std::to_string(n) + ",3," + std::to_string(S) + "," + std::to_string(S) + "]");
  std::vector<float> out;
  out.reserve(size_t(n * P));
  for (int64_t b0 = 0; b0 < n; b0 += kBatch) {
    const int64_t B = std::min(kBatch, n - b0);
    std::vector<float> chunk(pixel_values.begin() + b0 * per, pixel_values.begin() + (b0 + B) * per);
    Tensor px = Tensor::from_floats(ctx_, {B, 3, S, S}, vision_.dtype(), chunk, "pixel_values");
    Sequence s(ctx_);
    ClipVisionOutputs o = vision_.forward(s, px);
    s.run();
    ClipVisionModel::check(ctx_, o);
    std::vector<float> e = o.image_embeds.download(ctx_);  // [B,P]
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

std::vector<float> ClipScorer::embed_images(const std::vector<Image>& images) const {
  std::vector<float> out;
  for (size_t b0 = 0; b0 < images.size(); b0 += size_t(kBatch)) {
    std::vector<Image> chunk(images.begin() + long(b0), images.begin() + long(std::min(images.size(), b0 + size_t(kBatch))));
    std::vector<float> e = embed_pixel_values(clip_pixel_values(chunk, preprocess_), int64_t(chunk.size()));
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

std::vector<float> ClipScorer::embed_token_ids(const std::vector<float>& ids, int64_t n, int64_t tokens) const {
  if (int64_t(ids.size()) != n * tokens) throw Error(name_ + ": token ids are not [" + std::to_string(n) + "," + std::to_string(tokens) + "]");
  if (tokens < 1 || tokens > text_.max_positions())
    throw Error(name_ + ": " + std::to_string(tokens) + " tokens per text, the model takes 1 to " +
                std::to_string(text_.max_positions()));
  std::vector<float> out;
  for (int64_t b0 = 0; b0 < n; b0 += kBatch) {
    const int64_t B = std::min(kBatch, n - b0);
    std::vector<float> chunk(ids.begin() + b0 * tokens, ids.begin() + (b0 + B) * tokens);
    ClipTextRun r = text_.run(ctx_, chunk, B, tokens);
    std::vector<float> e = r.outputs.text_embeds.download(ctx_);  // [B,P]
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

std::vector<float> ClipScorer::embed_texts(const std::vector<std::string>& prompts) const {
  if (!tokenizer_)
    throw Error(name_ + ": no tokenizer (vocab.json and merges.txt) beside the CLIP model, so only token ids can be scored");
  const int T = int(text_.max_positions());
  std::vector<float> ids;
  ids.reserve(prompts.size() * size_t(T));
  for (const std::string& p : prompts)
    for (int id : tokenizer_->encode_padded(p, T)) {  // longer prompts are truncated, as transformers does
      if (id < 0 || id >= (1 << 24)) throw Error(name_ + ": token id " + std::to_string(id) + " out of range");
      ids.push_back(float(id));
    }
  return embed_token_ids(ids, int64_t(prompts.size()), T);
}

std::vector<ClipScore> ClipScorer::scores(const std::vector<Image>& images, const std::vector<std::string>& prompts) const {
  if (images.size() != prompts.size())
    throw Error("clip score: " + std::to_string(images.size()) + " images but " + std::to_string(prompts.size()) + " prompts");
  if (images.empty()) return {};
  // Each distinct prompt is encoded once (the usual case is one prompt for every image).
  std::map<std::string, size_t> index;
  std::vector<std::string> unique;
  for (auto& p : prompts)
    if (index.emplace(p, unique.size()).second) unique.push_back(p);
  const int64_t P = projection_dim();
  std::vector<float> text = embed_texts(unique), image = embed_images(images);
  std::vector<ClipScore> out(images.size());
  for (size_t i = 0; i < images.size(); i++) {
    std::vector<float> a(image.begin() + long(i) * P, image.begin() + long(i + 1) * P);
    size_t t = index.at(prompts[i]);
    std::vector<float> b(text.begin() + long(t) * P, text.begin() + long(t + 1) * P);
    out[i].cosine = ClipVisionModel::cosine_image_text(a, b, P)[0];
    out[i].score = clip_score(out[i].cosine);
  }
  return out;
}

}  // namespace sdvk
