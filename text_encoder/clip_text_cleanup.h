// The text side of Hugging Face's CLIPTokenizer, before byte-pair encoding: cleanup and the
// pre-tokenizer regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// which HF compiles with re.IGNORECASE (Python's `regex` module). Written by hand over code
// points rather than with a regex engine, so \p{L} and \p{N} are the real Unicode classes.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sdvk::clip_text {

// NFC, runs of whitespace (Python str.isspace) to one space, strip, then Python's str.lower().
// This is CLIPTokenizerFast's normalizer and what the slow tokenizer does with ftfy installed,
// minus ftfy's repairs of broken text (mojibake, curly quotes, full-width forms, ligatures).
std::u32string normalize(std::u32string_view text);

// The regex matches over normalized text, left to right; characters no alternative matches
// (spaces, and U+0345, which IGNORECASE keeps out of every class) are dropped. Like the
// `regex` module under IGNORECASE, "'s" also matches "'ſ" (U+017F, long s).
std::vector<std::u32string_view> split_words(std::u32string_view normalized);

}  // namespace sdvk::clip_text
