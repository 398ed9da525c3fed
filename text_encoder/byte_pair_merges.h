// Byte-level byte-pair encoding as GPT-2 and CLIP define it. A word is a string of bytes; each
// byte is written as one printable character (bytes_to_unicode) so that merges.txt and
// vocab.json can be text; the last symbol of a word carries the end-of-word marker "</w>".
// merges.txt lists symbol pairs by rank; encoding a word repeatedly merges every occurrence of
// its lowest-ranked pair until no pair has a rank (exactly Hugging Face's CLIPTokenizer.bpe).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sdvk {

// The printable character (as UTF-8) that stands for `byte` in byte-level vocabularies.
const std::string& byte_level_char(uint8_t byte);
// `bytes` written with byte_level_char.
std::string to_byte_level(std::string_view bytes);
// The inverse of to_byte_level; false when `text` holds a character no byte maps to.
bool from_byte_level(std::string_view text, std::string& bytes);

class BytePairMerges {
 public:
  // Parses the text of a merges.txt. Like Hugging Face, the first line (the "#version" header)
  // is skipped and at most `max_merges` lines after it are read. Every line must be two
  // symbols separated by a space; throws Error "<file> line N: ..." otherwise.
  BytePairMerges(std::string_view text, const std::string& file, size_t max_merges);

  // The symbols of one word (raw bytes, not empty) after all merges, as symbol ids.
  std::vector<int> apply(std::string_view word) const;

  // The byte-level text of a symbol id ("</w>" included on word ends).
  const std::string& symbol(int id) const { return symbols_[size_t(id)]; }
  size_t symbol_count() const { return symbols_.size(); }
  size_t merge_count() const { return merges_.size(); }

 private:
  struct Merge {
    int rank;
    int merged;  // symbol id of the pair joined
  };
  int intern(std::string_view symbol);
  static uint64_t pair_key(int a, int b) { return uint64_t(uint32_t(a)) << 32 | uint32_t(b); }

  std::vector<std::string> symbols_;  // ids 0..255: bytes; 256..511: bytes + "</w>"
  // Looked up by string_view without building a string (C++20 heterogeneous lookup).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, int, Hash, std::equal_to<>> symbol_ids_;
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace sdvk
