// Prompt emphasis and long prompts, the way AUTOMATIC1111's web UI reads them.
//
// Emphasis syntax (prompt_parser.parse_prompt_attention):
//   (text)         weight x1.1          ((text))  x1.21: nesting multiplies
//   [text]         weight /1.1          (text:1.3) weight x1.3 (spaces allowed around 1.3)
//   \( \) \[ \] \\ literal ( ) [ ] \    a lone \ is dropped
//   BREAK          (a separate word, capitals) ends the current 75-token window
// Round and square brackets are tracked separately. A ")" or "]" with nothing open is plain
// text, as is ":1.3)" with no "(" open; brackets still open at the end close there. A weight
// that is not a number ("(a:1.2.3)", where A1111 raises an error) leaves ":" as plain text.
// Neighbouring pieces of equal weight are joined before tokenizing, so "(a)(b)" tokenizes
// "ab". Differences from A1111: \d and the weight are ASCII digits only; BREAK inside brackets
// still breaks (A1111 multiplies its marker and then tokenizes the word "BREAK").
//
// Windows: each piece is tokenized on its own (no bos/eos) and the ids concatenated, every id
// carrying its piece's weight. The ids are cut into windows of content_capacity (75 for CLIP)
// and each window is wrapped as bos + ids + eos + pad to the model's length (77), weights 1.0
// on bos/eos/pad. Long prompts thus give several windows instead of being truncated; the text
// encoder encodes each and concatenates the results (as A1111 and compel do). With
// comma_backtrack = N > 0, a window that fills up with a comma among its last N ids ends after
// that comma and the rest moves to the next window (A1111's "prompt word wrap length limit",
// 20 there by default; 0 here, which gives plain 75-token windows like compel).
#pragma once
#include <string>
#include <vector>

#include "text_encoder/tokenizer.h"

namespace sdvk {

struct WeightedText {
  std::string text;
  double weight = 1.0;
  bool is_break = false;  // a BREAK: text is empty, weight unused
};

// The prompt as pieces of text with their weights; never empty (an empty prompt gives one
// empty piece of weight 1). Throws Error when the prompt is not valid UTF-8.
std::vector<WeightedText> parse_prompt_weights(const std::string& prompt);

struct PromptWindow {
  std::vector<int> ids;        // length ids: bos, content, eos, pad
  std::vector<float> weights;  // one per id
};

struct WindowOptions {
  int length = 0;           // window length; 0: the tokenizer's context_length()
  int comma_backtrack = 0;  // see above; 0: off
  int pad = -1;             // the id windows are padded with; -1: the tokenizer's pad_id()
};

// Limits far beyond any real prompt (A1111 prompts run to a few hundred tokens), so a hostile
// one is refused at once instead of costing minutes in the tokenizer and the text encoder.
constexpr size_t kMaxPromptBytes = 8192;
constexpr int kMaxPromptWindows = 32;

// Throws Error("<where>: ...") for a prompt no run should take: a NUL byte (a PNG text chunk
// cannot hold it), invalid UTF-8, more than kMaxPromptBytes, or more BREAKs than
// kMaxPromptWindows allows. Needs no tokenizer, so requests are checked before any load.
void check_prompt_text(const std::string& prompt, const std::string& where);

// At least one window (an empty prompt gives bos + eos + pad). Checks the prompt as
// check_prompt_text does and throws Error when it needs more than kMaxPromptWindows windows.
std::vector<PromptWindow> encode_weighted_prompt(const Tokenizer& tokenizer, const std::string& prompt,
                                                 const WindowOptions& options = {});

}  // namespace sdvk
