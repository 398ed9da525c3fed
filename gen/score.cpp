// `sdvk score --clip PATH [--prompt TEXT | --prompts-file FILE] IMAGES...`: CLIP score of each
// image against its prompt, as a ranked table, JSON or CSV. `--pixel-values FILE` scores tensors
// that are already preprocessed (a check against a reference).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "clip/scorer.h"
#include "core/error.h"
#include "gen/cli.h"
#include "gen/csv.h"
#include "gen/manifest.h"
#include "gen/model_flags.h"
#include "gen/output_paths.h"
#include "gen/precision_flag.h"
#include "image/contact_sheet.h"
#include "image/image.h"
#include "image/parameters.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/weights.h"
#include "text_encoder/prompt_weights.h"
#include "vk/context.h"

namespace sdvk::cli {
namespace {

namespace fs = std::filesystem;

const char* kScoreUsage =
    "usage: sdvk score --clip PATH [--prompt TEXT | --prompts-file FILE] [--json | --csv]\n"
    "                  [--precision fp32|fp16] [--tokenizer DIR] [--config-override KEY=VALUE] [--device D] IMAGES...\n"
    "       sdvk score --clip PATH --manifest [--merged OUT.jsonl] [options] MANIFESTS...\n"
    "       sdvk score --clip PATH --pixel-values FILE.safetensors [--input-ids | --prompt TEXT] [...]\n"
    "CLIP score of each image against its prompt: 100 * max(cosine(image, text), 0), ranked best first.\n"
    "  --clip PATH          a Hugging Face CLIPModel folder (config.json, model.safetensors, vocab.json,\n"
    "                       merges.txt, preprocessor_config.json) or a CLIP .safetensors file\n"
    "  --prompt TEXT        one prompt for every image\n"
    "  --prompts-file FILE  one line per image: IMAGE<TAB>PROMPT (IMAGE as given on the command line, or\n"
    "                       its file name); blank lines and lines starting with # are skipped\n"
    "                       (neither: each PNG's prompt from its \"parameters\" text chunk)\n"
    "  --manifest           the arguments are manifests of generate --manifest (e.g. one per shard): their\n"
    "                       images and prompts, merged (by prompt index, then batch position; a line a\n"
    "                       rerun wrote again counted once), relative paths read from the current folder\n"
    "  --merged OUT.jsonl   with --manifest: also write the merged lines to OUT (before the model loads)\n"
    "  --json | --csv       machine-readable output instead of the table\n"
    "  --sheet OUT.png      also write a contact sheet: the images ranked in a grid, score and prompt\n"
    "                       under each (font: DejaVu Sans from fonts-dejavu-core, or $SDVK_FONT)\n"
    "  --precision P        fp16 or fp32 storage (default fp16 where the device supports it)\n"
    "  --tokenizer DIR      folder with vocab.json + merges.txt (default: found beside the model)\n"
    "  --config-override K=V  set a value of the model's config.json, e.g. vision_config.num_attention_heads=1\n"
    "                       (V is JSON, else a string; repeatable)\n"
    "  --pixel-values FILE  score the file's already-normalised pixel_values [N,3,S,S] against its\n"
    "                       input_ids [T,L] (or --prompt): prints the N x T cosine matrix\n"
    "  --input-ids          require the pixel-values file's input_ids (the default when no --prompt)\n";

bool given(const Args& args, const std::string& name) {
  for (auto& a : args.rest())
    if (a == name || a.rfind(name + "=", 0) == 0) return true;
  return false;
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

// IMAGE<TAB>PROMPT lines -> prompt per image argument.
std::vector<std::string> prompts_from_file(const std::string& path, const std::vector<std::string>& images) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("cannot read " + path + ": is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path + ": " + std::strerror(errno));
  std::map<std::string, std::string> by_path, by_name;
  std::map<std::string, int> name_count;
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0)
      throw Error(path + ":" + std::to_string(line_no) + ": expected IMAGE<TAB>PROMPT");
    std::string image = line.substr(0, tab);
    if (!by_path.emplace(image, line.substr(tab + 1)).second)
      throw Error(path + ":" + std::to_string(line_no) + ": " + image + " is listed twice");
    std::string name = fs::path(image).filename().string();
    by_name[name] = line.substr(tab + 1);
    name_count[name]++;
  }
  if (by_path.empty()) throw Error(path + ": empty (expected IMAGE<TAB>PROMPT lines)");
  std::vector<std::string> prompts;
  for (auto& image : images) {
    auto it = by_path.find(image);
    if (it != by_path.end()) {
      prompts.push_back(it->second);
      continue;
    }
    std::string name = fs::path(image).filename().string();
    if (name_count[name] > 1)
      throw Error(path + ": several lines name a file " + name + "; write " + image + " as on the command line");
    if (name_count[name] == 0) throw Error(path + ": no line for " + image);
    prompts.push_back(by_name[name]);
  }
  return prompts;
}

std::string prompt_from_metadata(const std::string& image, const std::map<std::string, std::string>& text) {
  auto it = text.find("parameters");
  if (it == text.end())
    throw Error(image + ": no \"parameters\" text chunk to take the prompt from (give --prompt or --prompts-file)");
  std::string prompt = parse_parameters(it->second).prompt;
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos)
    throw Error(image + ": the \"parameters\" text chunk holds no prompt (give --prompt or --prompts-file)");
  return prompt;
}

struct Row {
  std::string image, prompt;
  ClipScore s;
};

// Per-prompt statistics over the rows sharing a prompt, in order of first appearance.
struct PromptSummary {
  std::string prompt, best_image, worst_image;
  size_t n = 0;
  double mean = 0, best = 0, worst = 0;
};

// Rows are ranked best first, so each prompt's first row is its best and its last its worst.
std::vector<PromptSummary> per_prompt(const std::vector<Row>& rows) {
  std::vector<PromptSummary> out;
  std::map<std::string, size_t> at;
  for (auto& r : rows) {
    auto [it, fresh] = at.emplace(r.prompt, out.size());
    if (fresh) out.push_back({r.prompt, r.image, r.image, 0, 0, r.s.score, r.s.score});
    PromptSummary& p = out[it->second];
    p.n++;
    p.mean += r.s.score;
    p.worst = r.s.score;
    p.worst_image = r.image;
  }
  for (auto& p : out) p.mean /= double(p.n);
  std::stable_sort(out.begin(), out.end(), [](const PromptSummary& a, const PromptSummary& b) { return a.mean > b.mean; });
  return out;
}

void print_rows(std::vector<Row> rows, const std::string& format) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.s.cosine > b.s.cosine; });
  double sum = 0, lo = rows.front().s.score, hi = rows.front().s.score;
  for (auto& r : rows) {
    sum += r.s.score;
    lo = std::min<double>(lo, r.s.score);
    hi = std::max<double>(hi, r.s.score);
  }
  const double mean = sum / double(rows.size());
  // Only a batch of several prompts, some with several images, gets the per-prompt summary: with
  // one image per prompt it would repeat the rows, with one prompt the summary line.
  const std::vector<PromptSummary> prompts = per_prompt(rows);
  const bool summarise = prompts.size() > 1 && prompts.size() < rows.size();
  if (format == "json") {
    nlohmann::json j;
    j["results"] = nlohmann::json::array();
    for (size_t i = 0; i < rows.size(); i++)
      j["results"].push_back({{"rank", i + 1}, {"image", rows[i].image}, {"prompt", rows[i].prompt},
                              {"score", rows[i].s.score}, {"cosine", rows[i].s.cosine}});
    j["summary"] = {{"n", rows.size()}, {"mean", mean}, {"min", lo}, {"max", hi}};
    if (summarise) {
      j["prompts"] = nlohmann::json::array();
      for (auto& p : prompts)
        j["prompts"].push_back({{"prompt", p.prompt}, {"n", p.n}, {"mean", p.mean}, {"best", p.best}, {"worst", p.worst},
                                {"best_image", p.best_image}, {"worst_image", p.worst_image}});
    }
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (format == "csv") {
    // One table stays one table: the prompt's statistics are extra columns on each row.
    std::map<std::string, const PromptSummary*> of;
    for (auto& p : prompts) of[p.prompt] = &p;
    std::printf(summarise ? "rank,score,cosine,image,prompt,prompt_n,prompt_mean,prompt_best,prompt_worst\n"
                          : "rank,score,cosine,image,prompt\n");
    for (size_t i = 0; i < rows.size(); i++) {
      std::printf("%zu,%.4f,%.6f,%s,%s", i + 1, rows[i].s.score, rows[i].s.cosine, csv_field(rows[i].image).c_str(),
                  csv_field(rows[i].prompt).c_str());
      if (summarise) {
        const PromptSummary& p = *of.at(rows[i].prompt);
        std::printf(",%zu,%.4f,%.4f,%.4f", p.n, p.mean, p.best, p.worst);
      }
      std::printf("\n");
    }
  } else {
    size_t w = 5;
    for (auto& r : rows) w = std::max(w, r.image.size());
    std::printf("%4s %7s %8s  %-*s  %s\n", "rank", "score", "cosine", int(w), "image", "prompt");
    for (size_t i = 0; i < rows.size(); i++)
      std::printf("%4zu %7.2f %8.4f  %-*s  %s\n", i + 1, rows[i].s.score, rows[i].s.cosine, int(w), rows[i].image.c_str(),
                  one_line(rows[i].prompt).c_str());
    std::printf("n %zu, mean %.2f, min %.2f, max %.2f\n", rows.size(), mean, lo, hi);
    if (summarise) {
      std::printf("\nper prompt, best mean first:\n%4s %7s %7s %7s  %s\n", "n", "mean", "best", "worst", "prompt");
      for (auto& p : prompts)
        std::printf("%4zu %7.2f %7.2f %7.2f  %s\n", p.n, p.mean, p.best, p.worst, one_line(p.prompt).c_str());
    }
  }
}

// The images ranked best first, "#rank  score" and the prompt under each.
void write_sheet(const std::string& path, const std::vector<Row>& rows, const std::vector<Image>& images, const Font& font) {
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].s.cosine > rows[b].s.cosine; });
  std::vector<SheetItem> items;
  char title[64];
  for (size_t k = 0; k < order.size(); k++) {
    std::snprintf(title, sizeof title, "#%zu  %.2f", k + 1, rows[order[k]].s.score);
    items.push_back({&images[order[k]], title, one_line(rows[order[k]].prompt)});
  }
  write_png(path, contact_sheet(items, font), {{"Software", "sdvk score --sheet"}});
}

void print_matrix(const std::vector<float>& cos, int64_t n, int64_t t, const std::vector<std::string>& texts,
                  const std::string& format) {
  if (format == "json") {
    nlohmann::json j;
    j["cosine_image_text"] = nlohmann::json::array();
    j["score"] = nlohmann::json::array();
    for (int64_t i = 0; i < n; i++) {
      nlohmann::json c = nlohmann::json::array(), s = nlohmann::json::array();
      for (int64_t k = 0; k < t; k++) {
        c.push_back(cos[size_t(i * t + k)]);
        s.push_back(ClipScorer::clip_score(cos[size_t(i * t + k)]));
      }
      j["cosine_image_text"].push_back(c);
      j["score"].push_back(s);
    }
    j["images"] = n;
    j["texts"] = texts;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (format == "csv") {
    std::printf("image,text,score,cosine\n");
    for (int64_t i = 0; i < n; i++)
      for (int64_t k = 0; k < t; k++)
        std::printf("%lld,%lld,%.4f,%.7f\n", (long long)i, (long long)k, ClipScorer::clip_score(cos[size_t(i * t + k)]),
                    cos[size_t(i * t + k)]);
  } else {
    std::printf("cosine_image_text [%lld images x %lld texts]\n", (long long)n, (long long)t);
    for (int64_t k = 0; k < t; k++) std::printf("  text %lld: %s\n", (long long)k, one_line(texts[size_t(k)]).c_str());
    for (int64_t i = 0; i < n; i++) {
      std::printf("image %lld:", (long long)i);
      for (int64_t k = 0; k < t; k++) std::printf(" %10.7f", cos[size_t(i * t + k)]);
      std::printf("\n");
    }
  }
}

// --pixel-values FILE: the cosine of each preprocessed image against the file's input_ids, or
// against `prompt` when given, printed as a matrix.
void score_pixel_values(const ClipScorer& scorer, const std::string& pixel_values, const std::string* prompt,
                        const std::string& format) {
  SafetensorsFile file(pixel_values);
  const TensorInfo* px = file.find("pixel_values");
  if (!px) throw Error(pixel_values + ": no tensor 'pixel_values'");
  const int64_t S = scorer.image_size();
  if (px->shape.size() != 4 || px->shape[1] != 3 || px->shape[2] != S || px->shape[3] != S)
    throw Error(pixel_values + ": pixel_values is " + shape_str(Shape(px->shape.begin(), px->shape.end())) +
                ", the model takes [N,3," + std::to_string(S) + "," + std::to_string(S) + "]");
  const int64_t n = px->shape[0];
  std::vector<float> image_embeds = scorer.embed_pixel_values(to_f32(*px), n);
  std::vector<float> text_embeds;
  std::vector<std::string> texts;
  if (prompt) {
    texts = {*prompt};
    text_embeds = scorer.embed_texts(texts);
  } else {
    const TensorInfo* ids = file.find("input_ids");
    if (!ids) throw Error(pixel_values + ": no tensor 'input_ids' (give --prompt to score against a text)");
    if (ids->shape.size() != 2) throw Error(pixel_values + ": input_ids must be [texts, tokens]");
    for (int64_t k = 0; k < ids->shape[0]; k++)
      texts.push_back("input_ids[" + std::to_string(k) + "]");  // the decoded text when there is a tokenizer
    std::vector<float> v = ids_to_f32(*ids);
    if (scorer.has_tokenizer())
      for (int64_t k = 0; k < ids->shape[0]; k++) {
        std::vector<int> row(v.begin() + k * ids->shape[1], v.begin() + (k + 1) * ids->shape[1]);
        texts[size_t(k)] = scorer.tokenizer()->decode(row);
      }
    text_embeds = scorer.embed_token_ids(v, ids->shape[0], ids->shape[1]);
  }
  const int64_t t = int64_t(texts.size());
  print_matrix(ClipVisionModel::cosine_image_text(image_embeds, text_embeds, scorer.projection_dim()), n, t, texts, format);
}

}  // namespace

int cmd_score(Args& args) {
  if (int status; args.usage(kScoreUsage, &status)) return status;
  ContextOptions opt;
  opt.device = args.take("--device");
  std::string clip = args.take("--clip");
  const bool has_prompt = given(args, "--prompt");
  const std::string prompt = args.take("--prompt");
  const std::string prompts_file = args.take("--prompts-file");
  const std::string precision = take_precision(args);
  const std::string tokenizer_path = args.take("--tokenizer");
  const std::string pixel_values = args.take("--pixel-values");
  const bool want_ids = args.take_flag("--input-ids");
  const bool json = args.take_flag("--json"), csv = args.take_flag("--csv");
  const std::string sheet = args.take("--sheet");
  const bool manifests = args.take_flag("--manifest");
  const std::string merged = args.take("--merged");
  LoadOptions load;
  for (const std::string& spec : args.take_all("--config-override"))
    gen::add_config_override(&load.config_overrides, spec, "clip");
  std::vector<std::string> images = args.positional();

  if (clip.empty()) clip = gen::default_model_path("score: --clip", "demo-clip");
  const Precision choice = check_precision(args.command(), precision);
  if (json && csv) throw Error("score: --json and --csv exclude each other");
  if (has_prompt && !prompts_file.empty()) throw Error("score: --prompt and --prompts-file exclude each other");
  if (has_prompt) check_prompt_text(prompt, "score: --prompt");
  const std::string format = json ? "json" : csv ? "csv" : "table";
  if (!pixel_values.empty()) {
    if (!images.empty()) throw Error("score: --pixel-values takes no image files (got " + images.front() + ")");
    if (!prompts_file.empty()) throw Error("score: --prompts-file maps image files; with --pixel-values use --input-ids or --prompt");
    if (want_ids && has_prompt) throw Error("score: --input-ids and --prompt exclude each other");
    if (!sheet.empty()) throw Error("score: --sheet draws image files; --pixel-values has none");
    if (manifests) throw Error("score: --manifest and --pixel-values exclude each other");
  } else {
    if (manifests && (has_prompt || !prompts_file.empty()))
      throw Error("score: --manifest takes each image's prompt from its manifest line; leave --prompt and "
                  "--prompts-file out");
    if (!merged.empty() && !manifests) throw Error("score: --merged needs --manifest");
    if (want_ids) throw Error("score: --input-ids needs --pixel-values");
    if (!sheet.empty() && sheet == prompts_file) throw Error("score: --sheet " + sheet + " would overwrite the prompts file");
    if (images.empty())
      throw Error(manifests ? "score: --manifest: no manifests given" : "score: no images given (see --help)");
  }
  for (auto& path : images)
    if (!merged.empty() && fs::path(path).lexically_normal() == fs::path(merged).lexically_normal())
      throw Error("score: --merged " + merged + " would overwrite an input manifest");

  // Everything about the inputs is checked before the model loads.
  std::vector<Image> decoded;
  std::vector<std::string> prompts;
  std::vector<gen::ManifestLine> lines;
  if (manifests) {  // the merged lines name the images and their prompts
    lines = gen::merge_manifests(images);
    const std::vector<int> missing = gen::missing_prompts(lines);
    if (!missing.empty())
      std::fprintf(stderr, "warning: %zu of the run's prompts have no line (a shard not run or not finished), the "
                   "first: prompt index %d\n", missing.size(), missing.front());
    images.clear();
    for (const gen::ManifestLine& m : lines) {
      images.push_back(m.file);
      prompts.push_back(m.prompt);
    }
  }
  if (pixel_values.empty()) {
    if (!prompts_file.empty()) prompts = prompts_from_file(prompts_file, images);
    for (size_t i = 0; i < images.size(); i++) {
      std::map<std::string, std::string> text;
      try {
        decoded.push_back(read_image(images[i], &text));
      } catch (const Error& e) {
        if (!manifests) throw;
        throw Error(lines[i].where + ": " + e.what());
      }
      if (has_prompt) prompts.push_back(prompt);
      else if (prompts_file.empty() && !manifests) prompts.push_back(prompt_from_metadata(images[i], text));
    }
    for (size_t i = 0; i < images.size(); i++) check_prompt_text(prompts[i], "prompt of " + images[i]);
  }
  if (!merged.empty()) {  // every image was read: the merged manifest names only files that are there
    gen::check_output_file(merged, "--merged", true);
    gen::write_manifest(merged, lines);
  }

  std::unique_ptr<Font> font;  // read before the model loads: a missing font fails fast
  if (!sheet.empty()) {
    for (auto& path : images)
      if (fs::path(path).lexically_normal() == fs::path(sheet).lexically_normal())
        throw Error("score: --sheet " + sheet + " would overwrite an input image");
    const std::string font_path = Font::default_path();
    std::error_code ec;
    if (!fs::is_regular_file(font_path, ec))
      throw Error("score: --sheet draws its text in " + font_path + ", which is missing (install fonts-dejavu-core, or set SDVK_FONT to a .ttf file)");
    font = std::make_unique<Font>(font_path);
  }

  Context ctx(opt);
  DType dt = precision_dtype(choice, ctx);
  // Token ids from a file need no tokenizer; prompts do.
  std::unique_ptr<ClipScorer> opened =
      ClipScorer::open(ctx, clip, dt, load, tokenizer_path, pixel_values.empty() || has_prompt);
  const ClipScorer& scorer = *opened;
  if (!scorer.preprocess_note().empty() && pixel_values.empty()) std::fprintf(stderr, "note: %s\n", scorer.preprocess_note().c_str());

  if (pixel_values.empty()) {
    std::vector<ClipScore> s = scorer.scores(decoded, prompts);
    std::vector<Row> rows;
    for (size_t i = 0; i < images.size(); i++) rows.push_back({images[i], prompts[i], s[i]});
    // The sheet is written (whole, or not at all) before anything is printed.
    if (!sheet.empty()) write_sheet(sheet, rows, decoded, *font);
    print_rows(rows, format);
    return 0;
  }

  score_pixel_values(scorer, pixel_values, has_prompt ? &prompt : nullptr, format);
  return 0;
}

}  // namespace sdvk::cli
