// CLIP's tokenizer, computing what Hugging Face's CLIPTokenizer computes, from a diffusers
// `tokenizer/` folder: vocab.json, merges.txt, and when present tokenizer_config.json and
// special_tokens_map.json (bos/eos/pad/unk tokens, model_max_length).
//
// encode_content(text):
//   1. the special token strings (bos, eos, pad, unk) are cut out of the raw text, leftmost
//      and longest first, and stand for their own ids (HF's added-token split);
//   2. each piece between them: clip_text::normalize (NFC, whitespace, strip, lowercase) and
//      clip_text::split_words (the CLIP regex);
//   3. each word: its UTF-8 bytes, byte-pair encoded with merges.txt (BytePairMerges), each
//      resulting symbol looked up in vocab.json (unk when absent). Words are cached.
// bos (<|startoftext|>, 49406) and eos (<|endoftext|>, 49407) frame the ids; see Tokenizer.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "text_encoder/byte_pair_merges.h"
#include "text_encoder/tokenizer.h"

namespace sdvk {

class ClipTokenizer final : public Tokenizer {
 public:
  // Throws Error naming the file (and field) that is missing or malformed.
  explicit ClipTokenizer(const std::string& folder);

  std::vector<int> encode_content(const std::string& text) const override;
  std::string decode(const std::vector<int>& ids) const override;
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }
  int pad_id() const override { return pad_id_; }
  int unk_id() const { return unk_id_; }
  int vocab_size() const override { return int(vocab_.size()); }
  int context_length() const override { return context_length_; }
  // The id of a vocabulary entry (byte-level text, e.g. ",</w>"), or -1.
  int token_id(const std::string& token) const;

 private:
  void load_vocab(const std::string& path);
  void load_special_tokens(const std::string& folder);
  // The ids of one piece of text that holds no special token string.
  void encode_piece(std::u32string_view piece, std::vector<int>& ids) const;
  std::vector<int> encode_word(const std::string& word_bytes) const;

  std::unordered_map<std::string, int> vocab_;      // byte-level token -> id
  std::unordered_map<int, std::string> id_tokens_;  // id -> byte-level token
  std::unique_ptr<BytePairMerges> merges_;
  std::vector<int> symbol_ids_;  // BytePairMerges symbol id -> vocab id (unk when absent)
  int bos_id_ = -1, eos_id_ = -1, pad_id_ = -1, unk_id_ = -1;
  int context_length_ = 77;
  std::vector<std::pair<std::u32string, int>> special_tokens_;  // cut out of raw text

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int>> word_cache_;
};

}  // namespace sdvk
