#include "text_encoder/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"
#include "text_encoder/text_file.h"
#include "text_encoder/unicode.h"

namespace sdvk {

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path, const SentencePieceOptions& options)
    : path_(model_path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  // Read through read_text_file so that a missing or oversized file fails the same way as
  // the other tokenizer files, before the library sees it.
  std::string bytes = read_text_file(model_path);
  auto status = processor_->LoadFromSerializedProto(bytes);
  // The library's status text names its own source lines: not shown.
  if (!status.ok()) throw Error(model_path + ": not a sentencepiece model (the protobuf does not parse)");
  if (processor_->GetPieceSize() <= 0) throw Error(model_path + ": sentencepiece model has no pieces");

  const int size = processor_->GetPieceSize();
  auto pick = [&](const std::optional<int>& override_id, int model_id, const char* name, bool allow_none) {
    if (!override_id) return model_id;
    int id = *override_id;
    if ((id == -1 && allow_none) || (id >= 0 && id < size)) return id;
    throw Error(model_path + ": " + name + " id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(size) + " pieces");
  };
  bos_id_ = pick(options.bos_id, processor_->bos_id(), "bos", true);
  eos_id_ = pick(options.eos_id, processor_->eos_id(), "eos", true);
  int model_pad = processor_->pad_id() >= 0 ? processor_->pad_id() : eos_id_ >= 0 ? eos_id_ : 0;
  pad_id_ = pick(options.pad_id, model_pad, "pad", false);
  if (options.context_length < 1 || options.context_length > (1 << 16))
    throw Error(model_path + ": context length " + std::to_string(options.context_length) + " is out of range");
  context_length_ = options.context_length;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

std::vector<int> SentencePieceTokenizer::encode_content(const std::string& text) const {
  unicode::decode_utf8(text, "text to tokenize");  // same UTF-8 rule as the CLIP tokenizer
  std::vector<int> ids;
  auto status = processor_->Encode(text, &ids);
  if (!status.ok()) throw Error(path_ + ": encoding failed (" + status.ToString() + ")");
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int>& ids) const {
  std::vector<int> kept;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error(path_ + ": token id " + std::to_string(id) + " is outside the vocabulary");
    if (id != bos_id_ && id != eos_id_ && id != pad_id_) kept.push_back(id);
  }
  std::string text;
  auto status = processor_->Decode(kept, &text);
  if (!status.ok()) throw Error(path_ + ": decoding failed (" + status.ToString() + ")");
  return text;
}

}  // namespace sdvk
