// `generate --shard I/N --skip-existing --manifest` and `score --manifest --merged`: three
// shards as three processes write the bytes one process writes and merge to the same manifest;
// a rerun skips what is done without loading the model; a cut-short file, a missing one and an
// unfinished manifest line are made good by the rerun; bad specs are one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/cli_run.h"

using namespace sdvk;
using test::run_cli;
namespace fs = std::filesystem;

namespace {

// Five prompts in the bundled demo model's words, two images each, two steps: ten 64x64 images.
const std::string kData = SDVK_TEST_DATA;

const char* kPrompts[] = {"a red circle on a white background", "two blue squares on a black background",
                          "a small yellow star in the top left corner", "a green triangle on a gray background",
                          "a purple ring in the centre"};
constexpr int kPromptCount = 5, kBatch = 2;

void write_prompts(const std::string& path) {
  std::ofstream f(path);
  for (const char* p : kPrompts) f << p << "\n";
}

// A generate run over dir/prompts.txt into dir, with `extra` flags.
test::CliResult generate(const test::TempDir& dir, const std::string& extra) {
  return run_cli("generate --quiet --steps 2 --seed 11 --batch 2 --prompts-file " + (dir / "prompts.txt") +
                 " --output " + (dir / "p{prompt}-{index}.png") + " " + extra);
}

std::set<std::string> pngs(const test::TempDir& dir) {
  std::set<std::string> names;
  for (auto& e : fs::directory_iterator(dir.path()))
    if (e.path().extension() == ".png") names.insert(e.path().filename().string());
  return names;
}

// `text` with every `from` replaced by `to` (the folder names in manifest paths).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Task `task` of a Slurm array of three, run here through deploy/slurm-shards.sh: a generate
// shard as generate() runs it, its manifest dir/manifest-TASK.jsonl.
void slurm_task(const test::TempDir& dir, int task) {
  const std::string script = kData + "/../../deploy/slurm-shards.sh";
  const std::string err = dir / "task.err";
  const int rc = std::system(("SDVK_VALIDATION=1 SDVK=" + std::string(SDVK_CLI) + " SEED=11 SLURM_ARRAY_TASK_ID=" +
                              std::to_string(task) + " SLURM_ARRAY_TASK_COUNT=3 bash " + script + " " +
                              (dir / "prompts.txt") + " " + dir.path() + " --steps 2 --batch 2 2>" + err)
                                 .c_str());
  EXPECT_EQ(rc, 0) << test::slurp(err);
  EXPECT_EQ(test::slurp(err).find("vulkan validation:"), std::string::npos) << test::slurp(err);
  fs::remove(err);
}

// One process, and three shards as a Slurm array runs them (each run once, before any test
// changes them).
struct Runs {
  test::TempDir one{"shard-one"}, three{"shard-three"};
  std::string manifests;  // the three shards' manifests, in another order than written
  Runs() {
    write_prompts(one / "prompts.txt");
    write_prompts(three / "prompts.txt");
    auto r = generate(one, "--manifest " + (one / "m.jsonl"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (int task = 0; task < 3; task++) slurm_task(three, task);
    manifests = (three / "manifest-2.jsonl") + " " + (three / "manifest-0.jsonl") + " " + (three / "manifest-1.jsonl");
  }
};

Runs& runs() {
  static Runs r;
  return r;
}

// score --manifest over `manifests` (merged into dir/merged.jsonl): the JSON summary.
nlohmann::json score_manifests(const test::TempDir& dir, const std::string& manifests) {
  auto r = run_cli("score --json --manifest --merged " + (dir / "merged.jsonl") + " " + manifests);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

}  // namespace

TEST(ShardCli, ThreeShardsWriteTheBytesOfOneRunAndMergeToItsManifest) {
  Runs& r = runs();
  const std::set<std::string> names = pngs(r.one);
  ASSERT_EQ(names.size(), size_t(kPromptCount * kBatch));
  EXPECT_EQ(pngs(r.three), names);
  for (const std::string& n : names) EXPECT_EQ(test::slurp(r.three / n), test::slurp(r.one / n)) << n;

  nlohmann::json one = score_manifests(r.one, r.one / "m.jsonl");
  nlohmann::json three = score_manifests(r.three, r.manifests);
  EXPECT_EQ(one["summary"], three["summary"]);
  EXPECT_EQ(one["summary"]["n"], kPromptCount * kBatch);
  const std::string merged_one = test::slurp(r.one / "merged.jsonl");
  EXPECT_EQ(replaced(test::slurp(r.three / "merged.jsonl"), r.three.path(), r.one.path()), merged_one);
  // Sorted by prompt, then batch position; no per-run fields.
  std::istringstream lines(merged_one);
  int n = 0;
  for (std::string line; std::getline(lines, line); n++) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["prompt_index"], n / kBatch);
    EXPECT_EQ(j["batch_pos"], n % kBatch);
    EXPECT_EQ(j["prompt"], kPrompts[n / kBatch]);
    EXPECT_EQ(j["seed"], 11 + n / kBatch);
    EXPECT_EQ(j["steps"], 2);
    EXPECT_FALSE(j.contains("seconds") || j.contains("device")) << line;
  }
  EXPECT_EQ(n, kPromptCount * kBatch);
  // One shard's manifest alone: scored, with a warning that the others are missing.
  auto part = run_cli("score --manifest " + (r.three / "manifest-0.jsonl"));
  EXPECT_EQ(part.exit_code, 0) << part.err;
  EXPECT_NE(part.err.find("warning: 3 of the run's prompts have no line"), std::string::npos) << part.err;
}

TEST(ShardCli, RerunOfADoneShardSkipsEverythingWithoutLoadingTheModel) {
  Runs& r = runs();
  const std::string manifest = r.three / "manifest-1.jsonl", before = test::slurp(manifest);
  auto s = generate(r.three, "--json --shard 1/3 --skip-existing --manifest " + manifest);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  nlohmann::json j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["skipped_prompts"], 2);  // prompts 1 and 4
  EXPECT_TRUE(j["files"].empty());
  EXPECT_FALSE(j.contains("seconds")) << "the model was loaded: " << s.out;
  EXPECT_EQ(test::slurp(manifest), before);
}

// A PNG cut short (a node lost before its data reached the disk), a stale temporary of a killed
// write, a missing image and an unfinished manifest line: the rerun makes the shard whole again.
TEST(ShardCli, CutShortMissingAndUnfinishedOutputsAreRedone) {
  Runs& r = runs();
  test::TempDir dir("shard-redo");
  write_prompts(dir / "prompts.txt");
  for (const std::string& n : pngs(r.three)) fs::copy_file(r.three / n, dir / n);
  std::ofstream(dir / "m0.jsonl") << replaced(test::slurp(r.three / "manifest-0.jsonl"), r.three.path(), dir.path());
  const std::string whole = test::slurp(dir / "p0-1.png");
  { std::ofstream(dir / "p0-1.png", std::ios::binary | std::ios::trunc) << whole.substr(0, whole.size() / 2); }
  { std::ofstream(dir / "p0-0.png.part.Ab12Cd", std::ios::binary) << "stale"; }
  fs::remove(dir / "p3-1.png");
  { std::ofstream(dir / "m0.jsonl", std::ios::app) << "{\"prompt_index\": 3, \"batch"; }

  auto s = generate(dir, "--json --shard 0/3 --skip-existing --manifest " + (dir / "m0.jsonl"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.err.find("unfinished"), std::string::npos) << s.err;  // the warning, even with --quiet
  nlohmann::json j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["skipped_prompts"], 0);
  EXPECT_EQ(j["files"].size(), 4u);  // prompts 0 and 3 again, whole
  for (const char* n : {"p0-0.png", "p0-1.png", "p3-0.png", "p3-1.png"})
    EXPECT_EQ(test::slurp(dir / n), test::slurp(r.three / n)) << n;
  // The repeated lines merge away: the same manifest as the first runs'.
  score_manifests(dir, (dir / "m0.jsonl") + " " + (r.three / "manifest-1.jsonl") + " " +
                           (r.three / "manifest-2.jsonl"));
  score_manifests(r.three, r.manifests);
  EXPECT_EQ(replaced(test::slurp(dir / "merged.jsonl"), dir.path(), r.three.path()),
            test::slurp(r.three / "merged.jsonl"));
}

TEST(ShardCli, AnotherRunsFileIsNotReplaced) {
  Runs& r = runs();
  test::TempDir dir("shard-other");
  write_prompts(dir / "prompts.txt");
  fs::copy_file(r.one / "p1-0.png", dir / "p0-0.png");  // prompt 1's image where prompt 0's goes
  auto s = generate(dir, "--shard 0/3 --skip-existing");
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("holds another image"), std::string::npos) << s.err;
  EXPECT_EQ(test::slurp(dir / "p0-0.png"), test::slurp(r.one / "p1-0.png"));
}

struct BadCase {
  const char* what;
  std::string args;
  const char* message;
};

class ShardBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(ShardBadInput, OneLineErrorAndNothingWritten) {
  test::TempDir dir("shard-bad");
  write_prompts(dir / "prompts.txt");
  // Two manifests of runs with other steps and an earlier run's file (inputs of the cases).
  const std::string line = R"({"prompt_index":0,"batch_pos":0,"prompt":"x","seed":1,"file":"a.png","steps":)";
  std::ofstream(dir / "in-a.jsonl") << line << "2}\n";
  std::ofstream(dir / "in-b.jsonl") << line << "3}\n";
  std::ofstream(dir / "in-0-0.png") << "a file of an earlier run";
  const BadCase& b = GetParam();
  std::string args = b.args;
  for (size_t at; (at = args.find("DIR")) != std::string::npos;) args.replace(at, 3, dir.path());
  auto r = run_cli(args);
  EXPECT_NE(r.exit_code, 0) << b.what;
  EXPECT_NE(r.err.find(b.message), std::string::npos) << b.what << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << b.what << ": " << r.err;
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename() != "prompts.txt" && e.path().filename().string().rfind("in", 0) != 0)
      left.push_back(e.path().filename().string());
  EXPECT_TRUE(left.empty()) << b.what << " left " << left.front();
}

const std::string kGen = "generate --steps 1 --seed 1 --prompts-file DIR/prompts.txt --output DIR/p{prompt}-{index}.png ";

INSTANTIATE_TEST_SUITE_P(
    Cases, ShardBadInput,
    ::testing::Values(
        BadCase{"index = count", kGen + "--shard 3/3", "--shard 3/3: expected I/N"},
        BadCase{"zero shards", kGen + "--shard 0/0", "--shard 0/0: expected I/N"},
        BadCase{"negative index", kGen + "--shard -1/2", "--shard -1/2: expected I/N"},
        BadCase{"not a number", kGen + "--shard 1/x", "--shard 1/x: expected I/N"},
        BadCase{"no slash", kGen + "--shard 1", "--shard 1: expected I/N"},
        BadCase{"no prompts file", "generate --prompt x --seed 1 --output DIR/a.png --shard 0/2", "needs --prompts-file"},
        BadCase{"no seed", "generate --prompts-file DIR/prompts.txt --output DIR/p{prompt}.png --shard 0/2", "needs --seed"},
        BadCase{"counter names", "generate --seed 1 --prompts-file DIR/prompts.txt --shard 0/2", "{n}"},
        BadCase{"counter names on resume", "generate --seed 1 --prompt x --skip-existing --output DIR/o-{n}.png", "{n}"},
        BadCase{"skip and overwrite", kGen + "--skip-existing --overwrite", "exclude each other"},
        BadCase{"index after ranking", kGen + "--skip-existing --best-of 2", "{rank}"},
        BadCase{"one name for all prompts",
                "generate --seed 1 --prompts-file DIR/prompts.txt --output DIR/a-{index}.png --shard 4/5",
                "several images"},
        BadCase{"shard ran before",
                "generate --seed 1 --prompts-file DIR/prompts.txt --shard 0/2 --output DIR/in-{prompt}-{index}.png",
                "pass --skip-existing"},
        BadCase{"merged without manifests", "score --merged DIR/m.jsonl DIR/prompts.txt", "--merged needs --manifest"},
        BadCase{"manifest not json", "score --manifest DIR/prompts.txt", "prompts.txt:1: not a JSON object"},
        BadCase{"manifests of two runs", "score --manifest DIR/in-a.jsonl DIR/in-b.jsonl", "different runs"}));
