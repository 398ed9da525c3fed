#include "text_encoder/tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "text_encoder/clip_tokenizer.h"
#include "text_encoder/sentencepiece_tokenizer.h"
#include "text_encoder/text_file.h"

namespace sdvk {

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> content = encode_content(text);
  std::vector<int> ids;
  ids.reserve(content.size() + 2);
  if (bos_id() >= 0) ids.push_back(bos_id());
  ids.insert(ids.end(), content.begin(), content.end());
  if (eos_id() >= 0) ids.push_back(eos_id());
  return ids;
}

int Tokenizer::content_capacity(int length) const {
  int specials = (bos_id() >= 0 ? 1 : 0) + (eos_id() >= 0 ? 1 : 0);
  if (length <= specials)
    throw Error("window length " + std::to_string(length) + " leaves no room for text next to bos/eos");
  return length - specials;
}

std::vector<int> Tokenizer::wrap_window(const std::vector<int>& content, int length, int pad) const {
  size_t capacity = size_t(content_capacity(length));
  if (content.size() > capacity)
    throw Error(std::to_string(content.size()) + " tokens do not fit a window of " + std::to_string(length));
  std::vector<int> ids;
  ids.reserve(size_t(length));
  if (bos_id() >= 0) ids.push_back(bos_id());
  ids.insert(ids.end(), content.begin(), content.end());
  if (eos_id() >= 0) ids.push_back(eos_id());
  ids.resize(size_t(length), pad);
  return ids;
}

std::vector<int> Tokenizer::encode_padded(const std::string& text, int length, int pad) const {
  std::vector<int> content = encode_content(text);
  size_t capacity = size_t(content_capacity(length));
  if (content.size() > capacity) content.resize(capacity);
  return wrap_window(content, length, pad);
}

std::vector<int> Tokenizer::encode_padded(const std::string& text, int length) const {
  return encode_padded(text, length, pad_id());
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // A diffusers / transformers tokenizer folder: CLIP BPE files, else a sentencepiece model
    // (T5 and the bundled demo model ship spiece.model).
    const std::filesystem::path dir(path);
    if (!std::filesystem::exists(dir / "vocab.json", ec) && std::filesystem::is_regular_file(dir / "spiece.model", ec)) {
      SentencePieceOptions options;  // the window: tokenizer_config.json's model_max_length, else 77
      const std::string config = (dir / "tokenizer_config.json").string();
      if (std::filesystem::exists(config, ec)) {
        nlohmann::json json = read_json_file(config);
        if (!json.is_object()) throw Error(config + ": expected a JSON object");
        if (auto length = model_max_length(json, config)) options.context_length = *length;
      }
      return std::make_unique<SentencePieceTokenizer>((dir / "spiece.model").string(), options);
    }
    return std::make_unique<ClipTokenizer>(path);
  }
  if (std::filesystem::is_regular_file(path, ec)) return std::make_unique<SentencePieceTokenizer>(path);
  throw Error(path + ": no such tokenizer (expected a folder with vocab.json and merges.txt or spiece.model, or a sentencepiece .model file)");
}

}  // namespace sdvk
