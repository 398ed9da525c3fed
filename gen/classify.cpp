// `sdvk classify --labels A,B,C | --labels-file F [--template T | --templates openai|FILE] IMAGES...`:
// zero-shot classification of images with CLIP (clip/zero_shot.h), the top labels of each image
// ranked, as a table, JSON or CSV.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "clip/zero_shot.h"
#include "core/error.h"
#include "gen/cli.h"
#include "gen/csv.h"
#include "gen/model_flags.h"
#include "gen/precision_flag.h"
#include "image/image.h"
#include "text_encoder/prompt_weights.h"
#include "vk/context.h"

namespace sdvk::cli {
namespace {

namespace fs = std::filesystem;

const char* kClassifyUsage =
    "usage: sdvk classify --labels \"cat,dog,car\" | --labels-file FILE [--template T | --templates openai|FILE]\n"
    "                     [--top K] [--json | --csv] [--clip PATH] [--precision fp32|fp16] [--tokenizer DIR]\n"
    "                     [--device D] IMAGES...\n"
    "Zero-shot classification: each image's label probabilities, softmax(logit_scale * cosine) over the\n"
    "labels, each label's text embedding the normalised mean over its templates; top K printed.\n"
    "  --labels A,B,C       the labels, comma-separated\n"
    "  --labels-file FILE   one label per line; blank lines and lines starting with # are skipped\n"
    "  --template T         one prompt template with {} for the label (default \"a photo of a {}.\")\n"
    "  --templates openai   OpenAI's 80 ImageNet prompt templates; or FILE: one template per line\n"
    "  --top K              labels printed per image (default 5)\n"
    "  --json | --csv       machine-readable output instead of the table\n"
    "  --clip PATH          a CLIPModel folder or CLIP .safetensors file (default: the bundled demo CLIP)\n"
    "  --precision P        fp16 or fp32 storage (default fp16 where the device supports it)\n"
    "  --tokenizer DIR      folder with vocab.json + merges.txt (default: found beside the model)\n";

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Non-blank lines that do not start with '#', trimmed.
std::vector<std::string> read_lines(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("classify: cannot read " + what + " " + path + ": is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("classify: cannot read " + what + " " + path + ": " + std::strerror(errno));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    std::string t = trim(line);
    if (!t.empty() && t[0] != '#') out.push_back(t);
  }
  if (out.empty()) throw Error("classify: " + what + " " + path + " is empty");
  return out;
}

std::vector<std::string> parse_labels(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    std::string label = trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (label.empty())
      throw Error("classify: --labels: label " + std::to_string(out.size() + 1) + " is empty (\"" + list + "\")");
    out.push_back(label);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// Labels the model can tell apart: distinct, and each one a valid prompt.
void check_labels(const std::vector<std::string>& labels) {
  std::set<std::string> seen;
  for (auto& l : labels) {
    if (!seen.insert(l).second) throw Error("classify: label \"" + l + "\" is given twice");
    check_prompt_text(l, "classify: label \"" + l + "\"");
  }
}

// A label whose tokens the tokenizer cannot give back is unknown to the model (the demo CLIP's
// small vocabulary covers only its captions' words): its embedding would mean nothing.
void check_known(const Tokenizer& tok, const std::vector<std::string>& labels) {
  for (auto& l : labels) {
    std::vector<int> ids = tok.encode_content(l);
    if (ids.empty()) throw Error("classify: label \"" + l + "\" encodes to no tokens");
    std::string back = trim(tok.decode(ids));
    std::string a, b;  // compared without case and spaces: tokenizers lower-case and respace
    for (char c : l)
      if (c != ' ') a += char(std::tolower((unsigned char)c));
    for (char c : back)
      if (c != ' ') b += char(std::tolower((unsigned char)c));
    if (a != b) throw Error("classify: label \"" + l + "\" is unknown to the model's tokenizer (it reads \"" + back + "\")");
  }
}

struct Ranked {
  std::string label;
  float probability;
};

void print(const std::vector<std::string>& images, const std::vector<std::vector<Ranked>>& top, size_t n_labels,
           size_t n_templates, float logit_scale, const std::string& format) {
  if (format == "json") {
    nlohmann::json j;
    j["labels"] = n_labels;
    j["templates"] = n_templates;
    j["logit_scale"] = logit_scale;
    j["results"] = nlohmann::json::array();
    for (size_t i = 0; i < images.size(); i++) {
      nlohmann::json r = nlohmann::json::array();
      for (size_t k = 0; k < top[i].size(); k++)
        r.push_back({{"rank", k + 1}, {"label", top[i][k].label}, {"probability", top[i][k].probability}});
      j["results"].push_back({{"image", images[i]}, {"top", r}});
    }
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (format == "csv") {
    std::printf("image,rank,label,probability\n");
    for (size_t i = 0; i < images.size(); i++)
      for (size_t k = 0; k < top[i].size(); k++)
        std::printf("%s,%zu,%s,%.6f\n", csv_field(images[i]).c_str(), k + 1, csv_field(top[i][k].label).c_str(),
                    top[i][k].probability);
  } else {
    for (size_t i = 0; i < images.size(); i++) {
      std::printf("%s\n", images[i].c_str());
      for (size_t k = 0; k < top[i].size(); k++)
        std::printf("  %2zu  %6.2f%%  %s\n", k + 1, 100.0 * top[i][k].probability, top[i][k].label.c_str());
    }
  }
}

}  // namespace

int cmd_classify(Args& args) {
  if (int status; args.usage(kClassifyUsage, &status)) return status;
  ContextOptions opt;
  opt.device = args.take("--device");
  std::string clip = args.take("--clip");
  const std::string labels_arg = args.take("--labels"), labels_file = args.take("--labels-file");
  const std::string one_template = args.take("--template"), templates_arg = args.take("--templates");
  const int top_k = args.take_int("--top", 5, 1, 1 << 20);
  const std::string precision = take_precision(args);
  const std::string tokenizer_path = args.take("--tokenizer");
  const bool json = args.take_flag("--json"), csv = args.take_flag("--csv");
  std::vector<std::string> images = args.positional();

  if (clip.empty()) clip = gen::default_model_path("classify: --clip", "demo-clip");
  const Precision choice = check_precision(args.command(), precision);
  if (json && csv) throw Error("classify: --json and --csv exclude each other");
  if (labels_arg.empty() == labels_file.empty())
    throw Error(labels_arg.empty() ? "classify: give the labels with --labels A,B,C or --labels-file FILE"
                                   : "classify: --labels and --labels-file exclude each other");
  if (!one_template.empty() && !templates_arg.empty()) throw Error("classify: --template and --templates exclude each other");
  if (images.empty()) throw Error("classify: no images given (see --help)");

  // Everything about the inputs is checked before the model loads.
  std::vector<std::string> labels = labels_arg.empty() ? read_lines(labels_file, "labels file") : parse_labels(labels_arg);
  check_labels(labels);
  std::vector<std::string> templates;
  if (templates_arg == "openai") templates = openai_imagenet_templates();
  else if (!templates_arg.empty()) templates = read_lines(templates_arg, "templates file");
  else templates = {one_template.empty() ? "a photo of a {}." : one_template};
  for (auto& t : templates)
    if (t.find("{}") == std::string::npos) throw Error("classify: template \"" + t + "\" has no {} for the label");
  std::vector<Image> decoded;
  for (auto& path : images) decoded.push_back(read_image(path));

  Context ctx(opt);
  std::unique_ptr<ClipScorer> scorer = ClipScorer::open(ctx, clip, precision_dtype(choice, ctx), {}, tokenizer_path);
  check_known(*scorer->tokenizer(), labels);
  if (!scorer->preprocess_note().empty()) std::fprintf(stderr, "note: %s\n", scorer->preprocess_note().c_str());

  const int64_t P = scorer->projection_dim();
  std::vector<float> weights = zero_shot_weights(*scorer, labels, templates);
  std::vector<float> probs = zero_shot_probabilities(scorer->embed_images(decoded), weights, P, scorer->logit_scale());
  const size_t L = labels.size(), K = std::min(size_t(top_k), L);
  std::vector<std::vector<Ranked>> top(images.size());
  for (size_t i = 0; i < images.size(); i++) {
    std::vector<size_t> order(L);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return probs[i * L + a] > probs[i * L + b]; });
    for (size_t k = 0; k < K; k++) top[i].push_back({labels[order[k]], probs[i * L + order[k]]});
  }
  print(images, top, L, templates.size(), scorer->logit_scale(), json ? "json" : csv ? "csv" : "table");
  return 0;
}

}  // namespace sdvk::cli
