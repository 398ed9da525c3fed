#include "text_encoder/clip_text_cleanup.h"

#include "text_encoder/unicode.h"

namespace sdvk::clip_text {
namespace {

// Case-insensitive equality with an ASCII pattern character, for lowercase text: the only
// lowercase character that folds onto another pattern letter is U+017F, long s.
bool matches_char(char32_t c, char pattern) { return c == char32_t(pattern) || (pattern == 's' && c == 0x17F); }

size_t match_literal(std::u32string_view text, size_t at, std::string_view literal) {
  if (text.size() - at < literal.size()) return 0;
  for (size_t k = 0; k < literal.size(); k++)
    if (!matches_char(text[at + k], literal[k])) return 0;
  return literal.size();
}

bool is_symbol(char32_t c) {
  return !unicode::is_whitespace(c) && !unicode::is_letter(c) && !unicode::is_number(c) && c != 0x345;
}

// Length of the match at `at`, trying the alternatives in the regex's order; 0 for none.
size_t match_at(std::u32string_view text, size_t at) {
  static constexpr std::string_view kLiterals[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re",
                                                   "'ve", "'m", "'ll", "'d"};
  for (std::string_view literal : kLiterals)
    if (size_t n = match_literal(text, at, literal)) return n;
  size_t end = at;
  if (unicode::is_letter(text[at])) {
    while (end < text.size() && unicode::is_letter(text[end])) end++;
    return end - at;
  }
  if (unicode::is_number(text[at])) return 1;
  while (end < text.size() && is_symbol(text[end])) end++;
  return end - at;
}

}  // namespace

std::u32string normalize(std::u32string_view text) {
  std::u32string composed = unicode::to_nfc(text);
  std::u32string collapsed;
  collapsed.reserve(composed.size());
  for (char32_t c : composed) {
    if (!unicode::is_whitespace(c))
      collapsed.push_back(c);
    else if (!collapsed.empty() && collapsed.back() != U' ')
      collapsed.push_back(U' ');
  }
  if (!collapsed.empty() && collapsed.back() == U' ') collapsed.pop_back();
  return unicode::to_lower(collapsed);
}

std::vector<std::u32string_view> split_words(std::u32string_view normalized) {
  std::vector<std::u32string_view> words;
  size_t at = 0;
  while (at < normalized.size()) {
    size_t n = match_at(normalized, at);
    if (n == 0) {
      at++;
      continue;
    }
    words.push_back(normalized.substr(at, n));
    at += n;
  }
  return words;
}

}  // namespace sdvk::clip_text
