// `sdvk tokenize`: the token ids a prompt becomes, as one JSON line.
//
//   default     the model's 77-token windows, emphasis syntax applied (text_encoder/
//               prompt_weights.h): one window prints as [ids...], several (a prompt longer
//               than 75 tokens, or BREAK) as [[ids...], [ids...]]
//   --weights   {"ids": <as above>, "weights": <same shape, one weight per id>}
//   --raw       the literal text's ids, bos + content + eos, not padded or truncated and
//               without emphasis syntax (the form of tests/data/clip_tokenizer/cases.json)
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "gen/cli.h"
#include "text_encoder/prompt_weights.h"
#include "text_encoder/tokenizer.h"

namespace sdvk::cli {
namespace {

const char* kTokenizeUsage =
    "usage: sdvk tokenize --tokenizer DIR|FILE [--weights | --raw] TEXT\n"
    "  --tokenizer DIR|FILE  a CLIP tokenizer folder (vocab.json, merges.txt; e.g. a diffusers\n"
    "                        model's tokenizer/) or a sentencepiece .model file\n"
    "  --weights             also print each token's emphasis weight\n"
    "  --raw                 ids of the literal text: bos + content + eos, no padding or truncation\n"
    "prints one JSON line: the padded windows the text encoder reads (77 ids for CLIP), as one\n"
    "array, or an array of arrays when the prompt needs several windows; with --weights an object\n"
    "{\"ids\": ..., \"weights\": ...}. Emphasis: (word) x1.1, [word] /1.1, (word:1.3), \\( \\) literal,\n"
    "BREAK starts a new window.\n";

std::string ids_json(const std::vector<int>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); i++) out += (i ? ", " : "") + std::to_string(ids[i]);
  return out + "]";
}

std::string weights_json(const std::vector<float>& weights) {
  std::string out = "[";
  char buffer[32];
  for (size_t i = 0; i < weights.size(); i++) {
    std::snprintf(buffer, sizeof buffer, "%.6g", double(weights[i]));
    out += (i ? ", " : "") + std::string(buffer);
  }
  return out + "]";
}

// One window as a plain array, several as an array of arrays.
template <class T, class F>
std::string windows_json(const std::vector<PromptWindow>& windows, T PromptWindow::*field, F to_json) {
  if (windows.size() == 1) return to_json(windows[0].*field);
  std::string out = "[";
  for (size_t i = 0; i < windows.size(); i++) out += (i ? ", " : "") + to_json(windows[i].*field);
  return out + "]";
}

}  // namespace

int cmd_tokenize(Args& args) {
  if (args.take_flag("--help")) {
    std::fputs(kTokenizeUsage, stdout);
    return 0;
  }
  std::string path = args.take("--tokenizer");
  bool with_weights = args.take_flag("--weights");
  bool raw = args.take_flag("--raw");
  if (path.empty()) throw Error("tokenize: --tokenizer DIR|FILE is required (see sdvk tokenize --help)");
  if (with_weights && raw) throw Error("tokenize: --raw ids have no weights; use one of --raw and --weights");
  if (args.rest().size() != 1 || args.rest()[0].rfind("--", 0) == 0) {
    if (!args.rest().empty() && args.rest()[0].rfind("--", 0) == 0) args.expect_empty();
    throw Error("tokenize: expected the text as one argument (quote it; see sdvk tokenize --help)");
  }
  const std::string text = args.rest()[0];
  check_prompt_text(text, "tokenize");

  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(path);
  if (raw) {
    std::printf("%s\n", ids_json(tokenizer->encode(text)).c_str());
    return 0;
  }
  std::vector<PromptWindow> windows = encode_weighted_prompt(*tokenizer, text);
  std::string ids = windows_json(windows, &PromptWindow::ids, ids_json);
  if (with_weights)
    std::printf("{\"ids\": %s, \"weights\": %s}\n", ids.c_str(),
                windows_json(windows, &PromptWindow::weights, weights_json).c_str());
  else
    std::printf("%s\n", ids.c_str());
  return 0;
}

}  // namespace sdvk::cli
