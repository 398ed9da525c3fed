// A sentencepiece model (.model file, e.g. T5's spiece.model) behind the Tokenizer interface,
// through libsentencepiece. The model encodes the text; this class adds bos/eos and padding.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "text_encoder/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace sdvk {

struct SentencePieceOptions {
  // Override the model's own ids; -1 for bos/eos means "none" (T5 windows have no bos).
  std::optional<int> bos_id, eos_id, pad_id;
  int context_length = 77;
};

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Without overrides, bos/eos/pad are the model's (-1 where the model disables one); a model
  // without a pad id pads with eos, or with 0 when it has no eos either. Throws Error naming
  // the file when it is missing or not a sentencepiece model, or an override is out of range.
  explicit SentencePieceTokenizer(const std::string& model_path, const SentencePieceOptions& options = {});
  ~SentencePieceTokenizer() override;

  std::vector<int> encode_content(const std::string& text) const override;
  std::string decode(const std::vector<int>& ids) const override;
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }
  int pad_id() const override { return pad_id_; }
  int vocab_size() const override;
  int context_length() const override { return context_length_; }

 private:
  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  int bos_id_ = -1, eos_id_ = -1, pad_id_ = 0;
  int context_length_ = 77;
};

}  // namespace sdvk
