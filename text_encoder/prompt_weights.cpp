#include "text_encoder/prompt_weights.h"

#include <cstdlib>

#include "core/error.h"
#include "text_encoder/unicode.h"

namespace sdvk {
namespace {

constexpr double kRoundMultiplier = 1.1;
constexpr double kSquareMultiplier = 1 / 1.1;

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }

// Matches ":\s*([+-]?[.\d]+)\s*\)" at `at`; on success sets `end` past the ")" and `weight`.
bool match_weight(std::u32string_view text, size_t at, size_t& end, double& weight) {
  size_t i = at + 1;  // past ':'
  while (i < text.size() && unicode::is_whitespace(text[i])) i++;
  size_t number_start = i;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) i++;
  size_t digits_start = i;
  while (i < text.size() && (is_ascii_digit(text[i]) || text[i] == '.')) i++;
  if (i == digits_start) return false;
  std::string number = unicode::encode_utf8(text.substr(number_start, i - number_start));
  while (i < text.size() && unicode::is_whitespace(text[i])) i++;
  if (i >= text.size() || text[i] != ')') return false;
  // Python's float() rejects "1.2.3" and "." (A1111 raises there; we fall back to text).
  char* parsed_end = nullptr;
  weight = std::strtod(number.c_str(), &parsed_end);
  if (parsed_end != number.c_str() + number.size()) return false;
  end = i + 1;
  return true;
}

bool is_special(char32_t c) { return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':'; }

// Python's re.split(r"\s*\bBREAK\b\s*", text), with a break marker between the parts.
void append_text_with_breaks(std::u32string_view text, std::vector<WeightedText>& out) {
  static constexpr std::u32string_view kBreak = U"BREAK";
  const auto word_at = [&](size_t i) { return i < text.size() && unicode::is_word_char(text[i]); };
  size_t part_start = 0;
  for (size_t at = text.find(kBreak); at != std::u32string_view::npos; at = text.find(kBreak, at + 1)) {
    if ((at > 0 && word_at(at - 1)) || word_at(at + kBreak.size())) continue;
    size_t match_start = at;
    while (match_start > part_start && unicode::is_whitespace(text[match_start - 1])) match_start--;
    size_t match_end = at + kBreak.size();
    while (match_end < text.size() && unicode::is_whitespace(text[match_end])) match_end++;
    out.push_back({unicode::encode_utf8(text.substr(part_start, match_start - part_start)), 1.0, false});
    out.push_back({"", 1.0, true});
    part_start = match_end;
    at = match_end - 1;
  }
  out.push_back({unicode::encode_utf8(text.substr(part_start)), 1.0, false});
}

}  // namespace

std::vector<WeightedText> parse_prompt_weights(const std::string& prompt) {
  std::u32string text = unicode::decode_utf8(prompt, "prompt");
  std::vector<WeightedText> pieces;
  std::vector<size_t> round_open, square_open;  // indices into pieces where each bracket opened
  const auto multiply_from = [&](size_t start, double multiplier) {
    for (size_t p = start; p < pieces.size(); p++)
      if (!pieces[p].is_break) pieces[p].weight *= multiplier;
  };
  const auto literal = [&](std::u32string_view s) { append_text_with_breaks(s, pieces); };

  for (size_t at = 0; at < text.size();) {
    char32_t c = text[at];
    size_t end = at + 1;
    double weight = 0;
    if (c == '\\') {
      bool escapes = at + 1 < text.size() && (text[at + 1] == '(' || text[at + 1] == ')' || text[at + 1] == '[' ||
                                              text[at + 1] == ']' || text[at + 1] == '\\');
      if (escapes) end = at + 2;
      pieces.push_back({escapes ? unicode::encode_utf8(text.substr(at + 1, 1)) : "", 1.0, false});
    } else if (c == '(') {
      round_open.push_back(pieces.size());
    } else if (c == '[') {
      square_open.push_back(pieces.size());
    } else if (c == ':' && match_weight(text, at, end, weight)) {
      if (!round_open.empty()) {
        multiply_from(round_open.back(), weight);
        round_open.pop_back();
      } else {
        literal(std::u32string_view(text).substr(at, end - at));
      }
    } else if (c == ')' && !round_open.empty()) {
      multiply_from(round_open.back(), kRoundMultiplier);
      round_open.pop_back();
    } else if (c == ']' && !square_open.empty()) {
      multiply_from(square_open.back(), kSquareMultiplier);
      square_open.pop_back();
    } else if (is_special(c)) {  // ':' without a weight, unmatched ')' or ']'
      literal(std::u32string_view(text).substr(at, 1));
    } else {
      while (end < text.size() && !is_special(text[end])) end++;
      literal(std::u32string_view(text).substr(at, end - at));
    }
    at = end;
  }
  // Brackets left open apply to everything after them (round ones first, as A1111 does).
  for (size_t start : round_open) multiply_from(start, kRoundMultiplier);
  for (size_t start : square_open) multiply_from(start, kSquareMultiplier);
  if (pieces.empty()) pieces.push_back({"", 1.0, false});

  // Join neighbours of exactly equal weight (A1111 compares the floats exactly too).
  std::vector<WeightedText> joined;
  for (WeightedText& piece : pieces) {
    if (!joined.empty() && !piece.is_break && !joined.back().is_break && joined.back().weight == piece.weight)
      joined.back().text += piece.text;
    else
      joined.push_back(std::move(piece));
  }
  return joined;
}

void check_prompt_text(const std::string& prompt, const std::string& where) {
  if (prompt.find('\0') != std::string::npos) throw Error(where + ": the prompt holds a NUL byte");
  if (prompt.size() > kMaxPromptBytes)
    throw Error(where + ": the prompt is " + std::to_string(prompt.size()) + " bytes, over the limit of " +
                std::to_string(kMaxPromptBytes));
  unicode::decode_utf8(prompt, where);  // "<where>: not valid UTF-8 at byte N"
  int windows = 1;
  for (const WeightedText& piece : parse_prompt_weights(prompt)) windows += piece.is_break;
  if (windows > kMaxPromptWindows)
    throw Error(where + ": the prompt has " + std::to_string(windows - 1) + " BREAKs, over the limit of " +
                std::to_string(kMaxPromptWindows - 1));
}

std::vector<PromptWindow> encode_weighted_prompt(const Tokenizer& tokenizer, const std::string& prompt,
                                                 const WindowOptions& options) {
  check_prompt_text(prompt, "prompt");
  const int length = options.length > 0 ? options.length : tokenizer.context_length();
  const size_t capacity = size_t(tokenizer.content_capacity(length));
  if (options.comma_backtrack < 0) throw Error("comma backtrack must not be negative");
  std::vector<int> comma = tokenizer.encode_content(",");
  const int comma_id = comma.size() == 1 ? comma[0] : -1;

  std::vector<PromptWindow> windows;
  std::vector<int> ids;
  std::vector<float> weights;
  long last_comma = -1;  // position of the last comma in the current window
  const auto close_window = [&] {
    PromptWindow window;
    window.ids = tokenizer.wrap_window(ids, length, options.pad >= 0 ? options.pad : tokenizer.pad_id());
    if (tokenizer.bos_id() >= 0) window.weights.push_back(1.0f);
    window.weights.insert(window.weights.end(), weights.begin(), weights.end());
    window.weights.resize(window.ids.size(), 1.0f);
    windows.push_back(std::move(window));
    ids.clear();
    weights.clear();
    last_comma = -1;
  };

  for (const WeightedText& piece : parse_prompt_weights(prompt)) {
    if (piece.is_break) {
      close_window();
      continue;
    }
    for (int id : tokenizer.encode_content(piece.text)) {
      if (id == comma_id) {
        last_comma = long(ids.size());
      } else if (options.comma_backtrack > 0 && ids.size() == capacity && last_comma >= 0 &&
                 long(ids.size()) - last_comma <= options.comma_backtrack) {
        // Move what follows the comma to the next window.
        std::vector<int> moved_ids(ids.begin() + last_comma + 1, ids.end());
        std::vector<float> moved_weights(weights.begin() + last_comma + 1, weights.end());
        ids.resize(size_t(last_comma + 1));
        weights.resize(size_t(last_comma + 1));
        close_window();
        ids = std::move(moved_ids);
        weights = std::move(moved_weights);
      }
      if (ids.size() == capacity) close_window();
      ids.push_back(id);
      weights.push_back(float(piece.weight));
    }
  }
  if (!ids.empty() || windows.empty()) close_window();
  if (windows.size() > size_t(kMaxPromptWindows))
    throw Error("prompt: needs " + std::to_string(windows.size()) + " windows of " + std::to_string(capacity) +
                " tokens, over the limit of " + std::to_string(kMaxPromptWindows));
  return windows;
}

}  // namespace sdvk
