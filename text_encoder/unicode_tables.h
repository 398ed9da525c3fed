// The Unicode data behind text_encoder/unicode.h, generated into unicode_tables.cpp by
// scripts/gen_unicode_tables.py. Every table is sorted by code point.
#pragma once
#include <cstdint>
#include <span>

namespace sdvk::unicode_data {

struct Range {  // first..last inclusive
  char32_t first, last;
};
struct CaseRun {  // every stride-th code point in first..last lowercases to itself + delta
  char32_t first, last;
  uint8_t stride;
  int32_t delta;
};
struct SpecialCase {  // lowercase of several code points, as UTF-8
  char32_t cp;
  const char* lower_utf8;
};
struct Decomposition {  // canonical decomposition: cp -> first [second]; second 0 if single
  char32_t cp, first, second;
  bool composes;  // NFC recomposes first+second into cp (not a composition exclusion)
};
struct ClassRange {  // canonical combining class of first..last (absent: class 0)
  char32_t first, last;
  uint8_t ccc;
};

extern const char* const kUnicodeVersion;
extern const std::span<const Range> kLetters;        // \p{L}
extern const std::span<const Range> kNumbers;        // \p{N}
extern const std::span<const Range> kWhitespace;     // Python str.isspace()
extern const std::span<const Range> kWordChars;      // Python re \w
extern const std::span<const CaseRun> kLowercaseRuns;
extern const std::span<const SpecialCase> kLowercaseSpecial;
extern const std::span<const Range> kCaseIgnorable;  // for the final-sigma rule
extern const std::span<const Range> kCased;          // cased and not case-ignorable
extern const std::span<const Decomposition> kDecompositions;
extern const std::span<const ClassRange> kCombiningClasses;

}  // namespace sdvk::unicode_data
