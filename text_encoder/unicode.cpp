#include "text_encoder/unicode.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "text_encoder/unicode_tables.h"

namespace sdvk::unicode {
namespace data = unicode_data;

namespace {

// Hangul syllables decompose and compose by arithmetic, not by table.
constexpr char32_t kHangulS = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr char32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr char32_t kHangulNCount = kHangulVCount * kHangulTCount, kHangulSCount = kHangulLCount * kHangulNCount;

bool in_ranges(std::span<const data::Range> table, char32_t cp) {
  auto it = std::lower_bound(table.begin(), table.end(), cp,
                             [](const data::Range& r, char32_t c) { return r.last < c; });
  return it != table.end() && it->first <= cp;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  auto table = data::kCombiningClasses;
  auto it = std::lower_bound(table.begin(), table.end(), cp,
                             [](const data::ClassRange& r, char32_t c) { return r.last < c; });
  return it != table.end() && it->first <= cp ? it->ccc : 0;
}

const data::Decomposition* find_decomposition(char32_t cp) {
  auto table = data::kDecompositions;
  auto it = std::lower_bound(table.begin(), table.end(), cp,
                             [](const data::Decomposition& d, char32_t c) { return d.cp < c; });
  return it != table.end() && it->cp == cp ? &*it : nullptr;
}

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kHangulS && cp < kHangulS + kHangulSCount) {
    char32_t index = cp - kHangulS;
    out.push_back(kHangulL + index / kHangulNCount);
    out.push_back(kHangulV + index % kHangulNCount / kHangulTCount);
    if (index % kHangulTCount) out.push_back(kHangulT + index % kHangulTCount);
    return;
  }
  const data::Decomposition* d = find_decomposition(cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);  // mappings nest at most a few levels deep
  if (d->second) decompose(d->second, out);
}

uint64_t pair_key(char32_t a, char32_t b) { return uint64_t(a) << 32 | b; }

// Primary composite of a + b, or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kHangulL && a < kHangulL + kHangulLCount && b >= kHangulV && b < kHangulV + kHangulVCount)
    return kHangulS + ((a - kHangulL) * kHangulVCount + (b - kHangulV)) * kHangulTCount;
  if (a >= kHangulS && a < kHangulS + kHangulSCount && (a - kHangulS) % kHangulTCount == 0 && b > kHangulT &&
      b < kHangulT + kHangulTCount)
    return a + (b - kHangulT);
  static const std::unordered_map<uint64_t, char32_t> composites = [] {
    std::unordered_map<uint64_t, char32_t> m;
    for (const auto& d : data::kDecompositions)
      if (d.composes) m.emplace(pair_key(d.first, d.second), d.cp);
    return m;
  }();
  auto it = composites.find(pair_key(a, b));
  return it == composites.end() ? 0 : it->second;
}

char32_t simple_lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  auto table = data::kLowercaseRuns;
  auto it = std::lower_bound(table.begin(), table.end(), cp,
                             [](const data::CaseRun& r, char32_t c) { return r.last < c; });
  if (it == table.end() || it->first > cp || (cp - it->first) % it->stride) return cp;
  return char32_t(int32_t(cp) + it->delta);
}

// Python's rule for U+03A3: final form when a cased letter precedes it (skipping
// case-ignorable characters) and none follows it.
bool is_final_sigma(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && in_ranges(data::kCaseIgnorable, text[j - 1])) j--;
  if (j == 0 || !in_ranges(data::kCased, text[j - 1])) return false;
  j = i + 1;
  while (j < text.size() && in_ranges(data::kCaseIgnorable, text[j])) j++;
  return j == text.size() || !in_ranges(data::kCased, text[j]);
}

}  // namespace

std::u32string decode_utf8(std::string_view text, const std::string& what) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](size_t k) { return uint8_t(text[k]); };
    uint8_t b0 = byte(i);
    size_t length = b0 < 0x80 ? 1 : b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    bool ok = length != 0 && i + length <= text.size();
    char32_t cp = length == 1 ? b0 : length == 2 ? b0 & 0x1F : length == 3 ? b0 & 0x0F : b0 & 0x07;
    for (size_t k = 1; ok && k < length; k++) {
      ok = (byte(i + k) & 0xC0) == 0x80;
      cp = cp << 6 | (byte(i + k) & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    if (ok && length == 3) ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    if (ok && length == 4) ok = cp >= 0x10000 && cp <= 0x10FFFF;
    if (!ok) throw Error(what + ": not valid UTF-8 at byte " + std::to_string(i));
    out.push_back(cp);
    i += length;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | cp >> 6));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | cp >> 12));
    out.push_back(char(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | cp >> 18));
    out.push_back(char(0x80 | (cp >> 12 & 0x3F)));
    out.push_back(char(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(out, cp);
  return out;
}

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_ranges(data::kLetters, cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(data::kNumbers, cp);
}

bool is_whitespace(char32_t cp) { return in_ranges(data::kWhitespace, cp); }

bool is_word_char(char32_t cp) { return in_ranges(data::kWordChars, cp); }

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); i++) {
    char32_t cp = text[i];
    if (cp == 0x3A3) {
      out.push_back(is_final_sigma(text, i) ? 0x3C2 : 0x3C3);
      continue;
    }
    auto special = std::find_if(data::kLowercaseSpecial.begin(), data::kLowercaseSpecial.end(),
                                [cp](const data::SpecialCase& s) { return s.cp == cp; });
    if (special != data::kLowercaseSpecial.end())
      out += decode_utf8(special->lower_utf8, "lowercase table");
    else
      out.push_back(simple_lower(cp));
  }
  return out;
}

std::u32string to_nfc(std::u32string_view text) {
  // Below U+0300 every character is already NFC and nothing combines (checked by the table
  // generator), which covers plain ASCII and Latin-1 prompts.
  if (std::all_of(text.begin(), text.end(), [](char32_t cp) { return cp < 0x300; })) return std::u32string(text);

  std::u32string decomposed;
  for (char32_t cp : text) decompose(cp, decomposed);

  // Canonical ordering: each run of non-starters sorted (stably) by combining class.
  for (size_t i = 0; i < decomposed.size();) {
    size_t end = i;
    while (end < decomposed.size() && combining_class(decomposed[end]) != 0) end++;
    if (end - i > 1)
      std::stable_sort(decomposed.begin() + long(i), decomposed.begin() + long(end),
                       [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = end == i ? i + 1 : end;
  }

  // Canonical composition: a character joins the last starter unless a character between them
  // has class 0 or a class not below its own (is "blocked").
  std::u32string out;
  size_t starter = std::u32string::npos;
  for (char32_t cp : decomposed) {
    uint8_t ccc = combining_class(cp);
    if (starter != std::u32string::npos) {
      bool adjacent = starter == out.size() - 1;
      bool blocked = !adjacent && combining_class(out.back()) >= ccc;
      if (!blocked) {
        if (char32_t composite = compose(out[starter], cp)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (ccc == 0) starter = out.size();
    out.push_back(cp);
  }
  return out;
}

}  // namespace sdvk::unicode
