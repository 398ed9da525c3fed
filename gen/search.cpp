// `sdvk search --db FILE "TEXT" | --image Q.png [--top K] [--json]`: the indexed images nearest
// to a text (through the CLIP text tower) or to an image (the vision tower), by cosine, ranked.
// Brute force: every row's embedding is read and dotted with the query (the rows are normalised).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "clip/scorer.h"
#include "core/error.h"
#include "gen/cli.h"
#include "gen/precision_flag.h"
#include "image/image.h"
#include "index/image_index.h"
#include "index/model_id.h"
#include "text_encoder/prompt_weights.h"
#include "vk/context.h"

namespace sdvk::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kSearchUsage =
    "usage: sdvk search --db FILE \"TEXT\" | --image Q.png [--top K] [--json] [--clip PATH]\n"
    "                   [--precision fp32|fp16] [--tokenizer DIR] [--device D]\n"
    "The images of an index (sdvk index) nearest to a text or an image, ranked by cosine similarity.\n"
    "  --db FILE            the index\n"
    "  TEXT                 the query, through the CLIP text tower (quote it)\n"
    "  --image Q.png        an image as the query instead, through the vision tower\n"
    "  --top K              results printed (default 10)\n"
    "  --json               one JSON object instead of the table\n"
    "  --clip PATH          the CLIP model; it must be the one the index was built with (default: that one)\n"
    "  --precision P        fp16 or fp32 storage (default fp16 where the device supports it)\n"
    "  --tokenizer DIR      folder with vocab.json + merges.txt (default: found beside the model)\n";

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Hit {
  size_t row;
  float cosine;
};

// The K best rows of `rows` against the normalised query `q` [P].
std::vector<Hit> rank(const IndexRows& rows, const std::vector<float>& q, size_t k) {
  const size_t P = q.size(), n = rows.paths.size();
  std::vector<Hit> hits(n);
  for (size_t i = 0; i < n; i++) {
    const float* e = rows.embeddings.data() + i * P;
    hits[i] = {i, std::inner_product(e, e + P, q.data(), 0.0f)};
  }
  k = std::min(k, n);
  std::partial_sort(hits.begin(), hits.begin() + long(k), hits.end(), [&](const Hit& a, const Hit& b) {
    return a.cosine != b.cosine ? a.cosine > b.cosine : rows.paths[a.row] < rows.paths[b.row];
  });
  hits.resize(k);
  return hits;
}

}  // namespace

int cmd_search(Args& args) {
  if (int status; args.usage(kSearchUsage, &status)) return status;
  ContextOptions opt;
  opt.device = args.take("--device");
  const std::string db = args.take("--db"), image = args.take("--image");
  std::string clip = args.take("--clip");
  const int top = args.take_int("--top", 10, 1, 1 << 30);
  const std::string precision = take_precision(args);
  const std::string tokenizer_path = args.take("--tokenizer");
  const bool json = args.take_flag("--json");
  const std::vector<std::string> words = args.positional();
  if (db.empty()) throw Error("search: --db FILE is required (an index made by sdvk index)");
  if (words.size() > 1) throw Error("search: one text query at a time (quote it: \"" + words[0] + " " + words[1] + "\")");
  const std::string text = words.empty() ? "" : words[0];
  if (words.empty() == image.empty())
    throw Error(image.empty() ? "search: give a text query or --image Q.png" : "search: a text query and --image exclude each other");
  const Precision choice = check_precision(args.command(), precision);
  Image query_image;
  if (!image.empty()) query_image = read_image(image);
  else check_prompt_text(text, "search: the query");

  ImageIndex index(db, ImageIndex::Mode::MustExist);
  const std::string model_id = index.meta("model_id");
  if (model_id.empty() || index.count() == 0) throw Error("search: " + db + " holds no images yet (run sdvk index)");
  if (clip.empty()) {
    clip = index.meta("model_path");
    std::error_code ec;
    if (!fs::exists(clip, ec)) throw Error("search: the index's CLIP model " + clip + " is gone: give its --clip");
  }
  const std::string clip_id = clip_model_id(clip);
  if (clip_id != model_id)
    throw Error("search: --clip " + clip + " (id " + clip_id + ") is not the model " + db + " was built with (" +
                index.meta("model_path") + ", id " + model_id + ")");

  Context ctx(opt);
  std::unique_ptr<ClipScorer> scorer =
      ClipScorer::open(ctx, clip, precision_dtype(choice, ctx), {}, tokenizer_path, image.empty());
  auto t0 = Clock::now();
  std::vector<float> q = image.empty() ? scorer->embed_texts({text}) : scorer->embed_images({query_image});
  const double embed_ms = ms_since(t0);
  double norm = std::sqrt(std::inner_product(q.begin(), q.end(), q.begin(), 0.0));
  for (float& v : q) v = norm > 0 ? float(v / norm) : 0.0f;

  t0 = Clock::now();
  const IndexRows rows = index.rows(scorer->projection_dim());
  const double read_ms = ms_since(t0);
  t0 = Clock::now();
  const std::vector<Hit> hits = rank(rows, q, size_t(top));
  const double scan_ms = ms_since(t0);

  if (json) {
    nlohmann::json j = {{"query", image.empty() ? text : image}, {"kind", image.empty() ? "text" : "image"},
                        {"images", rows.paths.size()}, {"embed_ms", embed_ms}, {"read_ms", read_ms}, {"scan_ms", scan_ms}};
    j["results"] = nlohmann::json::array();
    for (size_t k = 0; k < hits.size(); k++)
      j["results"].push_back({{"rank", k + 1}, {"path", rows.paths[hits[k].row]}, {"cosine", hits[k].cosine}});
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("%4s %8s  %s\n", "rank", "cosine", "path");
    for (size_t k = 0; k < hits.size(); k++) std::printf("%4zu %8.4f  %s\n", k + 1, hits[k].cosine, rows.paths[hits[k].row].c_str());
    std::fprintf(stderr, "%zu images searched: query embedded in %.1f ms, rows read in %.1f ms, scanned in %.2f ms\n",
                 rows.paths.size(), embed_ms, read_ms, scan_ms);
  }
  return 0;
}

}  // namespace sdvk::cli
