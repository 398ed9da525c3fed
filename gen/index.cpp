// `sdvk index DIR... --db FILE [--clip PATH]` (or `--manifest MANIFEST...`: the images that
// `generate --manifest` listed): embeds every image under the folders with the
// CLIP vision tower into a SQLite index (index/image_index.h), incrementally: files whose size
// and modification time the index already holds are not read again, changed files are
// re-embedded, files gone from the folders are removed. Batches are committed one at a time, so
// a killed run keeps what it finished and the next run does the rest.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "clip/scorer.h"
#include "core/error.h"
#include "gen/cli.h"
#include "gen/manifest.h"
#include "gen/model_flags.h"
#include "gen/precision_flag.h"
#include "image/image.h"
#include "index/image_files.h"
#include "index/image_index.h"
#include "index/model_id.h"
#include "pipeline/progress.h"
#include "vk/context.h"

namespace sdvk::cli {
namespace {

namespace fs = std::filesystem;

const char* kIndexUsage =
    "usage: sdvk index DIR... --db FILE [--clip PATH] [--json] [--quiet] [--precision fp32|fp16] [--device D]\n"
    "       sdvk index --manifest MANIFEST... --db FILE [options]\n"
    "Embeds every image (*.png, *.jpg, *.jpeg, *.bmp) under the folders, recursively, with the CLIP\n"
    "vision tower into a SQLite index for `sdvk search`. Incremental: an image whose size and\n"
    "modification time are unchanged is not embedded again; images gone from the folders are removed.\n"
    "  --db FILE            the index (created when missing); it holds one CLIP model's embeddings\n"
    "  --clip PATH          a CLIPModel folder or CLIP .safetensors file (default: the bundled demo CLIP)\n"
    "  --manifest           the arguments are manifests of generate --manifest: their images are indexed\n"
    "                       (paths as written, relative ones from the current folder); rows are removed\n"
    "                       only for folders given as folders\n"
    "  --json               the summary as one JSON object\n"
    "  --quiet              no progress bar\n"
    "  --precision P        fp16 or fp32 storage (default fp16 where the device supports it)\n";

// Images embedded and committed together (four scorer batches): a killed run loses at most one
// batch, and a commit costs little against 32 embeddings.
constexpr size_t kCommitEvery = 4 * size_t(ClipScorer::kBatch);

struct Skipped {
  std::string path, reason;
};

struct Summary {
  size_t embedded = 0, unchanged = 0, removed = 0;
  std::vector<Skipped> skipped;
  int64_t total = 0;
  double seconds = 0;
};

// Test hook (SDVK_INDEX_KILL_AFTER=K): the process kills itself inside the transaction of the
// batch that takes it past K embedded images, as a crash or `kill -9` would.
size_t kill_after() {
  const char* v = std::getenv("SDVK_INDEX_KILL_AFTER");
  return v && *v ? size_t(std::strtoull(v, nullptr, 10)) : size_t(-1);
}

void normalise(float* v, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += double(v[i]) * v[i];
  const float inv = sum > 0 ? float(1.0 / std::sqrt(sum)) : 0.0f;
  for (int64_t i = 0; i < n; i++) v[i] *= inv;
}

// Embeds `todo` in committed batches; unreadable images are skipped (and their old rows, which
// describe a file that no longer reads, dropped). `scorer` loads the model on its first call, so
// a run whose only new files are unreadable starts no device.
void embed(ImageIndex& index, const std::function<const ClipScorer&()>& scorer, const std::string& model_id,
           const std::vector<ImageFile>& todo, const std::set<std::string>& indexed, bool quiet, Summary* sum) {
  const size_t stop = kill_after();
  pipeline::Progress progress(quiet);
  progress.begin("embed", int(todo.size()), "images");
  for (size_t b0 = 0; b0 < todo.size(); b0 += kCommitEvery) {
    std::vector<const ImageFile*> read;
    std::vector<Image> images;
    std::vector<std::string> gone;
    for (size_t i = b0; i < std::min(todo.size(), b0 + kCommitEvery); i++) {
      try {
        images.push_back(read_image(todo[i].path));
        read.push_back(&todo[i]);
      } catch (const Error& e) {
        sum->skipped.push_back({todo[i].path, e.what()});
        if (!quiet) std::fprintf(stderr, "skipped: %s\n", e.what());
        if (indexed.count(todo[i].path)) gone.push_back(todo[i].path);
      }
    }
    const int64_t P = images.empty() ? 0 : scorer().projection_dim();
    std::vector<float> e = images.empty() ? std::vector<float>() : scorer().embed_images(images);  // [N,P]
    index.begin();
    for (size_t i = 0; i < read.size(); i++) {
      std::vector<float> row(e.begin() + long(i) * P, e.begin() + long(i + 1) * P);
      normalise(row.data(), P);
      index.put(read[i]->path, read[i]->stamp, model_id, row);
    }
    for (auto& g : gone) index.remove(g);
    sum->removed += gone.size();
    sum->embedded += read.size();
    if (sum->embedded > stop) std::raise(SIGKILL);
    index.commit();
    progress.advance(int(std::min(todo.size(), b0 + kCommitEvery)));
  }
  progress.end();
  sum->seconds = progress.seconds().at("embed");
}

// The images the manifests list (any runs: unlike score, index does not merge them).
std::vector<ImageFile> manifest_images(const std::vector<std::string>& manifests, std::vector<std::string>* missing) {
  std::vector<std::string> paths;
  for (const std::string& m : manifests)
    for (const gen::ManifestLine& line : gen::read_manifest(m)) paths.push_back(line.file);
  return listed_images(paths, missing);
}

void print(const std::string& db, const std::string& model_id, const Summary& s, bool json) {
  if (json) {
    nlohmann::json j = {{"db", db}, {"model_id", model_id}, {"embedded", s.embedded}, {"unchanged", s.unchanged},
                        {"removed", s.removed}, {"skipped", s.skipped.size()}, {"images", s.total},
                        {"seconds", s.seconds}};
    j["skipped_files"] = nlohmann::json::array();
    for (auto& k : s.skipped) j["skipped_files"].push_back({{"path", k.path}, {"reason", k.reason}});
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  std::printf("%s: %zu embedded, %zu unchanged, %zu removed, %zu skipped (unreadable); %lld images in the index",
              db.c_str(), s.embedded, s.unchanged, s.removed, s.skipped.size(), (long long)s.total);
  if (s.embedded > 0 && s.seconds > 0) std::printf(" (%.1f images/s)", double(s.embedded) / s.seconds);
  std::printf("\n");
}

}  // namespace

int cmd_index(Args& args) {
  if (int status; args.usage(kIndexUsage, &status)) return status;
  ContextOptions opt;
  opt.device = args.take("--device");
  const std::string db = args.take("--db");
  std::string clip = args.take("--clip");
  const std::string precision = take_precision(args);
  const bool json = args.take_flag("--json"), quiet = args.take_flag("--quiet");
  const bool manifests = args.take_flag("--manifest");
  const std::vector<std::string> dirs = args.positional();
  if (db.empty()) throw Error("index: --db FILE is required (the index to create or update)");
  if (dirs.empty()) throw Error(manifests ? "index: --manifest: no manifests given" : "index: no folders given (see --help)");
  if (clip.empty()) clip = gen::default_model_path("index: --clip", "demo-clip");
  const Precision choice = check_precision(args.command(), precision);

  // The folders and the model's identity first: a typo costs no database and no device.
  std::vector<std::string> roots, missing;
  const std::vector<ImageFile> files = manifests ? manifest_images(dirs, &missing) : find_images(dirs, &roots);
  const std::string model_id = clip_model_id(clip);
  ImageIndex index(db, ImageIndex::Mode::Create);
  const std::string have = index.meta("model_id");
  if (!have.empty() && have != model_id && index.count() > 0)
    throw Error("index: " + db + " holds embeddings of the CLIP model " + index.meta("model_path") + " (id " + have +
                "), not of " + clip + " (id " + model_id + "): give that --clip, or another --db");
  if (have != model_id) {  // a new (or empty) index takes this model
    index.begin();
    index.set_meta("model_id", model_id);
    index.set_meta("model_path", fs::absolute(clip).lexically_normal().string());
    index.commit();
  }

  Summary sum;
  for (const std::string& m : missing) {
    sum.skipped.push_back({m, m + ": listed in a manifest, but no such file"});
    if (!quiet) std::fprintf(stderr, "skipped: %s: listed in a manifest, but no such file\n", m.c_str());
  }
  const std::map<std::string, FileStamp> stamps = index.stamps();
  std::set<std::string> present, indexed;
  std::vector<ImageFile> todo;
  for (const ImageFile& f : files) {
    present.insert(f.path);
    auto it = stamps.find(f.path);
    if (it != stamps.end() && it->second == f.stamp) sum.unchanged++;
    else todo.push_back(f);
  }
  std::vector<std::string> gone;
  for (auto& [path, stamp] : stamps) {
    indexed.insert(path);
    if (present.count(path)) continue;
    for (auto& root : roots)
      if (is_under(path, root)) {
        gone.push_back(path);
        break;
      }
  }
  if (!gone.empty()) {
    index.begin();
    for (auto& g : gone) index.remove(g);
    index.commit();
    sum.removed += gone.size();
  }

  // The device only when an image needs embedding: an unchanged folder costs no CLIP work at all.
  std::unique_ptr<Context> ctx;
  std::unique_ptr<ClipScorer> scorer;
  auto load = [&]() -> const ClipScorer& {
    if (!scorer) {
      ctx = std::make_unique<Context>(opt);
      scorer = ClipScorer::open(*ctx, clip, precision_dtype(choice, *ctx), {}, "", false);
      if (!scorer->preprocess_note().empty() && !quiet) std::fprintf(stderr, "note: %s\n", scorer->preprocess_note().c_str());
    }
    return *scorer;
  };
  if (!todo.empty()) embed(index, load, model_id, todo, indexed, quiet, &sum);
  sum.total = index.count();
  print(db, model_id, sum, json);
  return 0;
}

}  // namespace sdvk::cli
