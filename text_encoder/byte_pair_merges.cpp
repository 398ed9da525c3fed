#include "text_encoder/byte_pair_merges.h"

#include <algorithm>
#include <array>

#include "core/error.h"
#include "text_encoder/unicode.h"

namespace sdvk {
namespace {

constexpr int kEndOfWord = 256;  // symbol id offset of "byte + </w>"

// bytes_to_unicode: printable Latin-1 bytes stand for themselves; the other 68 bytes take
// the code points from U+0100 on, in byte order.
const std::array<std::string, 256>& byte_chars() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; b++) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      unicode::append_utf8(t[size_t(b)], printable ? char32_t(b) : next++);
    }
    return t;
  }();
  return table;
}

const std::unordered_map<char32_t, uint8_t>& char_bytes() {
  static const std::unordered_map<char32_t, uint8_t> table = [] {
    std::unordered_map<char32_t, uint8_t> t;
    for (int b = 0; b < 256; b++) t.emplace(unicode::decode_utf8(byte_chars()[size_t(b)], "byte table")[0], uint8_t(b));
    return t;
  }();
  return table;
}

}  // namespace

const std::string& byte_level_char(uint8_t byte) { return byte_chars()[byte]; }

std::string to_byte_level(std::string_view bytes) {
  std::string out;
  for (char c : bytes) out += byte_level_char(uint8_t(c));
  return out;
}

bool from_byte_level(std::string_view text, std::string& bytes) {
  std::u32string chars;
  try {
    chars = unicode::decode_utf8(text, "token");
  } catch (const Error&) {
    return false;
  }
  bytes.clear();
  for (char32_t c : chars) {
    auto it = char_bytes().find(c);
    if (it == char_bytes().end()) return false;
    bytes.push_back(char(it->second));
  }
  return true;
}

BytePairMerges::BytePairMerges(std::string_view text, const std::string& file, size_t max_merges) {
  for (int b = 0; b < 256; b++) intern(byte_level_char(uint8_t(b)));
  for (int b = 0; b < 256; b++) intern(byte_level_char(uint8_t(b)) + "</w>");

  // Hugging Face reads text.strip().split("\n")[1 : max_merges + 1].
  size_t begin = text.find_first_not_of(" \t\r\n\v\f");
  size_t end = text.find_last_not_of(" \t\r\n\v\f");
  text = begin == std::string_view::npos ? std::string_view() : text.substr(begin, end - begin + 1);
  // Sized for the typical file: every line adds at most one new symbol.
  size_t lines = size_t(std::count(text.begin(), text.end(), '\n'));
  merges_.reserve(std::min(lines, max_merges));
  symbol_ids_.reserve(std::min(lines, max_merges) + 512);
  symbols_.reserve(std::min(lines, max_merges) + 512);

  size_t line_start = text.find('\n');
  size_t line_number = 1;
  while (line_start != std::string_view::npos && merges_.size() < max_merges) {
    line_start++;
    line_number++;
    size_t line_end = text.find('\n', line_start);
    std::string_view line = text.substr(line_start, line_end == std::string_view::npos ? line_end : line_end - line_start);
    line_start = line_end;

    // Split on whitespace (Python's str.split()); exactly two symbols are expected.
    std::string_view parts[3];
    size_t count = 0;
    for (size_t i = 0; count < 3;) {
      size_t word_begin = line.find_first_not_of(" \t\r\v\f", i);
      if (word_begin == std::string_view::npos) break;
      size_t word_end = std::min(line.find_first_of(" \t\r\v\f", word_begin), line.size());
      parts[count++] = line.substr(word_begin, word_end - word_begin);
      i = word_end;
    }
    if (count != 2)
      throw Error(file + " line " + std::to_string(line_number) + ": expected two symbols separated by a space");
    std::string joined;
    joined.reserve(parts[0].size() + parts[1].size());
    joined.append(parts[0]).append(parts[1]);
    int a = intern(parts[0]);
    int b = intern(parts[1]);
    int merged = intern(joined);
    // A repeated pair keeps its last rank, as Python's dict(zip(merges, ranks)) does.
    merges_[pair_key(a, b)] = Merge{int(line_number - 2), merged};
  }
}

int BytePairMerges::intern(std::string_view symbol) {
  auto it = symbol_ids_.find(symbol);
  if (it != symbol_ids_.end()) return it->second;
  int id = int(symbols_.size());
  symbols_.emplace_back(symbol);
  symbol_ids_.emplace(symbols_.back(), id);
  return id;
}

std::vector<int> BytePairMerges::apply(std::string_view word) const {
  std::vector<int> symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size(); i++)
    symbols.push_back(int(uint8_t(word[i])) + (i + 1 == word.size() ? kEndOfWord : 0));

  std::vector<int> merged;
  merged.reserve(symbols.size());
  while (symbols.size() > 1) {
    // The lowest-ranked pair present in the word.
    const Merge* best = nullptr;
    uint64_t best_pair = 0;
    for (size_t i = 0; i + 1 < symbols.size(); i++) {
      auto it = merges_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != merges_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        best_pair = it->first;
      }
    }
    if (!best) break;
    // Join every occurrence, left to right, without overlaps.
    merged.clear();
    for (size_t i = 0; i < symbols.size(); i++) {
      if (i + 1 < symbols.size() && pair_key(symbols[i], symbols[i + 1]) == best_pair) {
        merged.push_back(best->merged);
        i++;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols.swap(merged);
  }
  return symbols;
}

}  // namespace sdvk
