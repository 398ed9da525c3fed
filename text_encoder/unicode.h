// The pieces of Unicode the tokenizers need: UTF-8 conversion, the character classes of CLIP's
// pre-tokenizer regex, Python's str.lower(), and NFC normalization. Data comes from
// unicode_tables.cpp (generated from Python's unicodedata, so the results agree with the
// Python tokenizers).
#pragma once
#include <string>
#include <string_view>

namespace sdvk::unicode {

// Throws sdvk::Error "<what>: not valid UTF-8 at byte N" on malformed input (overlong forms,
// surrogates and code points past U+10FFFF included).
std::u32string decode_utf8(std::string_view text, const std::string& what);
std::string encode_utf8(std::u32string_view text);
void append_utf8(std::string& out, char32_t cp);

bool is_letter(char32_t cp);      // general category L*
bool is_number(char32_t cp);      // general category N*
bool is_whitespace(char32_t cp);  // Python str.isspace()
bool is_word_char(char32_t cp);   // Python re \w

// Python str.lower(): full lowercase mapping, with capital sigma becoming final sigma at the
// end of a word.
std::u32string to_lower(std::u32string_view text);

// Unicode normalization form C (canonical decomposition, reordering, canonical composition).
std::u32string to_nfc(std::u32string_view text);

}  // namespace sdvk::unicode
