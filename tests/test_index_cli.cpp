// `sdvk index` and `sdvk search` on the bundled demo CLIP: incremental runs (unchanged files are
// not embedded again, changed ones are, deleted ones leave), a killed run resumed, an index of
// another model or a foreign file refused and left as it was, unreadable images skipped, and the
// ranking of text and image queries.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/cli_run.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

const std::string kData = SDVK_TEST_DATA;
const std::string kDemo = kData + "/demo_clip/";
const std::string kSamples = kData + "/../../samples/demo/";

// The six demo_clip training images and the eight demo samples (samples/README: 0.png is "a red
// circle on a white background"), plus a file that only looks like a PNG.
void fill(const test::TempDir& dir) {
  fs::create_directories(dir / "train");
  fs::create_directories(dir / "samples/deeper");
  for (int i = 0; i < 6; i++) {
    const std::string name = "train_0000" + std::to_string(i) + ".png";
    fs::copy_file(kDemo + name, dir / ("train/" + name));
  }
  for (int i = 0; i < 8; i++)
    fs::copy_file(kSamples + std::to_string(i) + ".png", dir / ("samples/" + std::string(i < 4 ? "" : "deeper/") + std::to_string(i) + ".png"));
  std::ofstream(dir / "train/broken.png") << "not a png";
  std::ofstream(dir / "train/notes.txt") << "not an image name";
}

nlohmann::json index(const std::string& args, const std::string& env = "") {
  test::CliResult r = test::run_cli("index --json --precision fp32 " + args, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

nlohmann::json search(const std::string& args) {
  test::CliResult r = test::run_cli("search --json --precision fp32 " + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

void expect_counts(const nlohmann::json& j, int embedded, int unchanged, int removed, int skipped, int images) {
  EXPECT_EQ(j.value("embedded", -1), embedded) << j;
  EXPECT_EQ(j.value("unchanged", -1), unchanged) << j;
  EXPECT_EQ(j.value("removed", -1), removed) << j;
  EXPECT_EQ(j.value("skipped", -1), skipped) << j;
  EXPECT_EQ(j.value("images", -1), images) << j;
}

// A one-line error containing `expect`, nothing on stdout.
void expect_error(const test::CliResult& r, const std::string& expect) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace

TEST(IndexCli, IncrementalRunsAndSearch) {
  test::TempDir dir("index");
  fill(dir);
  const std::string db = dir / "images.db", folders = (dir / "train") + " " + (dir / "samples");

  nlohmann::json j = index("--db " + db + " " + folders);
  expect_counts(j, 14, 0, 0, 1, 14);
  ASSERT_EQ(j["skipped_files"].size(), 1u);
  EXPECT_NE(j["skipped_files"][0]["path"].get<std::string>().find("broken.png"), std::string::npos);

  // Unchanged: no CLIP work (and no device: the table line says so too).
  test::CliResult r = test::run_cli("index --db " + db + " " + folders);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(": 0 embedded, 14 unchanged, 0 removed, 1 skipped (unreadable); 14 images in the index"),
            std::string::npos) << r.out;
  EXPECT_NE(r.err.find("skipped: "), std::string::npos) << r.err;

  // One file rewritten (new mtime), one deleted: one embedding, one removal.
  fs::last_write_time(dir / "samples/1.png", fs::last_write_time(dir / "samples/1.png") + std::chrono::seconds(5));
  fs::remove(dir / "samples/deeper/7.png");
  expect_counts(index("--db " + db + " " + folders), 1, 12, 1, 1, 13);
  // An indexed image that no longer reads: skipped, and its stale row removed.
  std::ofstream(dir / "samples/2.png", std::ios::trunc) << "truncated";
  expect_counts(index("--db " + db + " " + folders), 0, 12, 1, 2, 12);

  // Text query: the red circle (samples/0.png) comes first for "red".
  j = search("--db " + db + " --top 3 red");
  ASSERT_EQ(j["results"].size(), 3u) << j;
  EXPECT_EQ(j["images"], 12);
  EXPECT_EQ(j["results"][0]["path"], fs::canonical(dir / "samples/0.png").string()) << j;
  EXPECT_GE(j["results"][0]["cosine"].get<double>(), j["results"][1]["cosine"].get<double>());

  // Image query: the image itself first, cosine 1.
  j = search("--db " + db + " --image " + (dir / "train/train_00001.png"));
  ASSERT_EQ(j["results"].size(), 10u) << j;
  EXPECT_EQ(j["results"][0]["path"], fs::canonical(dir / "train/train_00001.png").string()) << j;
  EXPECT_NEAR(j["results"][0]["cosine"].get<double>(), 1.0, 1e-4);

  // The table form.
  r = test::run_cli("search --db " + db + " --top 2 'a red circle'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("rank   cosine  path\n   1 ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << r.out;
  EXPECT_NE(r.err.find("12 images searched"), std::string::npos) << r.err;
}

// --manifest: the images generate's manifests list (absolute and relative paths, a file listed
// twice counted once, a listed file that is gone skipped and counted); rows stay when files
// leave a manifest, since no folder was given.
TEST(IndexCli, IndexesTheImagesOfManifests) {
  test::TempDir dir("index-manifest");
  fill(dir);
  auto line = [](int p, const std::string& file) {
    return nlohmann::json({{"prompt_index", p}, {"batch_pos", 0}, {"prompt", "p"}, {"file", file}}).dump() + "\n";
  };
  std::ofstream(dir / "a.jsonl") << line(0, dir / "samples/0.png") << line(1, dir / "samples/1.png");
  std::ofstream(dir / "b.jsonl") << line(0, dir / "samples/0.png") << line(2, dir / "samples/gone.png");
  const std::string db = dir / "images.db";
  nlohmann::json j = index("--db " + db + " --manifest " + (dir / "a.jsonl") + " " + (dir / "b.jsonl"));
  expect_counts(j, 2, 0, 0, 1, 2);
  EXPECT_NE(j["skipped_files"][0]["path"].get<std::string>().find("gone.png"), std::string::npos) << j;
  std::ofstream(dir / "a.jsonl", std::ios::trunc) << line(0, dir / "samples/0.png");
  expect_counts(index("--db " + db + " --manifest " + (dir / "a.jsonl")), 0, 1, 0, 0, 2);
  expect_error(test::run_cli("index --db " + db + " --manifest"), "index: --manifest: no manifests given");
  std::ofstream(dir / "bad.jsonl") << "{\"prompt_index\": 0}\n";
  expect_error(test::run_cli("index --db " + db + " --manifest " + (dir / "bad.jsonl")), "bad.jsonl:1");
}

// SDVK_INDEX_KILL_AFTER kills the process inside the second batch's transaction: the first
// batch stays, the index opens, and the next run embeds only the rest.
TEST(IndexCli, KilledRunResumes) {
  test::TempDir dir("index-kill");
  for (int copy = 0; copy < 7; copy++) {
    fs::create_directories(dir / ("img/" + std::to_string(copy)));
    for (int i = 0; i < 6; i++)
      fs::copy_file(kDemo + "train_0000" + std::to_string(i) + ".png", dir / ("img/" + std::to_string(copy) + "/" + std::to_string(i) + ".png"));
  }
  const std::string db = dir / "images.db";
  test::CliResult r = test::run_cli("index --quiet --db " + db + " " + (dir / "img"), "SDVK_INDEX_KILL_AFTER=33");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_TRUE(r.out.empty()) << r.out;
  expect_counts(index("--db " + db + " " + (dir / "img")), 10, 32, 0, 0, 42);
  expect_counts(index("--db " + db + " " + (dir / "img")), 0, 42, 0, 0, 42);
}

TEST(IndexCli, OtherModelOrForeignFileRefusedAndUntouched) {
  test::TempDir dir("index-refuse");
  fs::create_directories(dir / "img");
  fs::copy_file(kDemo + "train_00000.png", dir / "img/a.png");
  const std::string db = dir / "images.db";
  expect_counts(index("--db " + db + " " + (dir / "img")), 1, 0, 0, 0, 1);
  const std::string before = test::slurp(db);

  const std::string other = kData + "/clip_tiny";
  expect_error(test::run_cli("index --db " + db + " --clip " + other + " " + (dir / "img")), "holds embeddings of the CLIP model");
  expect_error(test::run_cli("search --db " + db + " --clip " + other + " red"), "is not the model");
  EXPECT_EQ(test::slurp(db), before);

  // Not SQLite, and SQLite of another program: refused, byte for byte as they were.
  std::ofstream(dir / "junk.db") << "SQLite format 2? no, just text that is long enough to have a header.............";
  sqlite3* s = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "other.db").c_str(), &s), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(s, "CREATE TABLE images(x); INSERT INTO images VALUES (1);", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(s);
  for (const std::string name : {"junk.db", "other.db"}) {
    SCOPED_TRACE(name);
    const std::string bytes = test::slurp(dir / name);
    expect_error(test::run_cli("index --db " + (dir / name) + " " + (dir / "img")), "not an sdvk image index");
    expect_error(test::run_cli("search --db " + (dir / name) + " red"), "not an sdvk image index");
    EXPECT_EQ(test::slurp(dir / name), bytes);
  }
}

TEST(IndexCli, BadFlagsAreOneLineErrors) {
  test::TempDir dir("index-flags");
  fs::create_directories(dir / "img");
  const std::string img = kDemo + "train_00000.png";
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"index " + (dir / "img"), "--db FILE is required"},
      {"index --db " + (dir / "x.db"), "no folders given"},
      {"index --db " + (dir / "x.db") + " " + (dir / "missing"), "missing: no such folder"},
      {"index --db " + (dir / "x.db") + " " + img, "not a folder"},
      {"index --db " + (dir / "x.db") + " --frobnicate " + (dir / "img"), "unknown argument '--frobnicate'"},
      {"index --db " + (dir / "x.db") + " --precision fp8 " + (dir / "img"), "--precision"},
      {"index --db " + (dir / "img") + " " + (dir / "img"), "is a directory"},
      {"search red", "--db FILE is required"},
      {"search --db " + (dir / "x.db") + " red", "no such index"},
      {"search --db " + (dir / "x.db"), "give a text query or --image"},
      {"search --db " + (dir / "x.db") + " red --image " + img, "exclude each other"},
      {"search --db " + (dir / "x.db") + " red star", "one text query at a time"},
      {"search --db " + (dir / "x.db") + " --top 0 red", "--top"},
      {"search --db " + (dir / "x.db") + " --image " + (dir / "missing.png"), "missing.png"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.args);
    expect_error(test::run_cli(c.args), c.expect);
  }
  EXPECT_FALSE(fs::exists(dir / "x.db"));  // no failed request leaves an index behind
}
