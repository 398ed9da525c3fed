// `sdvk generate` reproduces diffusers' StableDiffusionPipeline runs (tests/data/pipeline/runs,
// from ../shared/golden) from the seed, from the folder and the single-file checkpoint; bad
// input is a one-line error with nothing written.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "image/parameters.h"
#include "model/file_hash.h"
#include "tests/support/cli_run.h"
#include "tests/support/golden_run.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using test::run_cli;
namespace fs = std::filesystem;

namespace {

const std::string kData = SDVK_TEST_DATA;
const std::string kFolder = kData + "/pipeline/tiny-sd";
const std::string kSingleFile = kData + "/pipeline/tiny-sd.safetensors";
const std::string kRuns = kData + "/pipeline/runs/";

using test::GoldenRun;

// The two golden runs, as flags.
const GoldenRun kDdim = {"ddim_8",
                   "--prompt 'a red circle on a blue background' --steps 8 --cfg-scale 7.5 --scheduler ddim "
                   "--seed 42 --width 64 --height 64",
                   1};
const GoldenRun kDpm = {"dpmpp2m_karras_6",
                  "--prompt 'an astronaut riding a horse' --negative-prompt 'blurry, low quality' --steps 6 "
                  "--cfg-scale 5 --scheduler dpmpp_2m_karras --seed 7 --width 80 --height 48 --batch 2",
                  2};
// 72 rows x 48 columns: an 18x12 latent, which the tiny UNet's two downsamples cannot halve
// evenly (18 -> 9 -> 5): its up blocks upsample to the skip connections' sizes.
const GoldenRun kOddSize = {"ddim_6_72x48",
                            "--prompt 'a small boat on a calm lake' --steps 6 --cfg-scale 7 --scheduler ddim --seed 5 "
                            "--width 48 --height 72",
                            1};
// The single file carries no config; the text encoder's head count is not in the tensor shapes.
const std::string kSingleFileConfig = " --config-override text_encoder.num_attention_heads=4";

using Diff = test::GoldenDiff;

Diff compare(const GoldenRun& run, const test::TempDir& dir) { return test::compare_run(kRuns, run, dir); }

test::CliResult generate(const std::string& model, const GoldenRun& run, const test::TempDir& dir, const std::string& extra) {
  return test::generate_run(model, run, dir, extra);
}

// `run` in float32 on `model` (the single file with its config override): diffusers' latents
// within 1e-4 relative, its pixels within one level.
void expect_float32_match(const std::string& model, const GoldenRun& run) {
  test::TempDir dir("gen-" + run.name);
  auto r = generate(model, run, dir, "--precision fp32" + (model == kSingleFile ? kSingleFileConfig : ""));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Diff d = compare(run, dir);
  EXPECT_LE(d.latent_rel, 1e-4);
  EXPECT_LE(d.pixel, 1);
}

}  // namespace

TEST(GenerateCli, Float32FolderMatchesDiffusersDdim) {
  test::TempDir dir("gen-ddim");
  auto r = generate(kFolder, kDdim, dir, "--precision fp32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Diff d = compare(kDdim, dir);
  EXPECT_LE(d.latent_rel, 1e-4);
  EXPECT_LE(d.pixel, 1);
  // The generation record reads back in A1111's format.
  std::map<std::string, std::string> text;
  read_image(dir / "img-0.png", &text);
  GenerationParameters p = parse_parameters(text.at("parameters"));
  EXPECT_EQ(p.prompt, "a red circle on a blue background");
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.steps, 8);
  EXPECT_EQ(p.width, 64);
  EXPECT_EQ(p.sampler, "ddim");
}

TEST(GenerateCli, Float32SingleFileMatchesDiffusersDpmKarrasBatch2) {
  expect_float32_match(kSingleFile, kDpm);
}

TEST(GenerateCli, Float32OddLatentSizeMatchesDiffusersFolderAndSingleFile) {
  for (const std::string& model : {kFolder, kSingleFile}) {
    SCOPED_TRACE(model);
    expect_float32_match(model, kOddSize);
  }
}

// The path of a GPU whose memory the host cannot map: every transfer staged, the validation
// layer's synchronization checks on, still the diffusers run; and each denoise step is exactly
// one queue submission (its sample/timestep uploads and eps download ride in it).
TEST(GenerateCli, ForcedStagingMatchesAndEachStepIsOneSubmission) {
  test::TempDir dir("gen-staged");
  auto staged = run_cli("generate --quiet --json --model " + kFolder + " " + kDdim.args + " --output " +
                            (dir / "img-{index}.png") + " --save-latents " + (dir / "latents.safetensors") +
                            " --precision fp32",
                        "SDVK_FORCE_STAGING=1 SDVK_SYNC_VALIDATION=1");
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_EQ(staged.err.find("Validation"), std::string::npos) << staged.err;
  Diff d = compare(kDdim, dir);
  EXPECT_LE(d.latent_rel, 1e-4);
  EXPECT_LE(d.pixel, 1);
  nlohmann::json j = nlohmann::json::parse(staged.out);
  EXPECT_EQ(j["queue_submissions"]["denoise_calls"], 8);
  EXPECT_EQ(j["queue_submissions"]["denoise"], 8) << j.dump();
  // Weights travel in batches with the first runs: a few submissions besides the steps (text
  // encoder, one per decoded image), not one per weight tensor (several hundred).
  EXPECT_LE(j["queue_submissions"]["total"].get<int>(), 8 + 6) << j.dump();
  EXPECT_GT(j["memory"]["peak_device_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(j["memory"]["peak_rss_bytes"].get<uint64_t>(), 0u);
}

TEST(GenerateCli, InitNoiseFileGivesTheSameRun) {
  // The run file's 'noise' tensor fed back in, with a different seed that must not matter
  // (DPM-Solver++ 2M draws no noise after the start).
  test::TempDir dir("gen-noise");
  GoldenRun run = kDpm;
  run.args.replace(run.args.find("--seed 7"), 8, "--seed 99");
  auto r = generate(kFolder, run, dir, "--precision fp32 --init-noise " + kRuns + kDpm.name + ".safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Diff d = compare(kDpm, dir);
  EXPECT_LE(d.latent_rel, 1e-4);
  EXPECT_LE(d.pixel, 1);
}

TEST(GenerateCli, Float16StaysNearTheReference) {
  // Every activation stored in float16 is rounded to 2^-11 relative; the guidance step
  // amplifies the UNet's error by the cfg scale (7.5) and 8 steps carry it along, so the final
  // latent may drift ~1e-3 relative (measured 2.0e-3 on lavapipe). 1e-2 leaves room for other
  // devices' rounding order; the 8-bit image then stays within 2 levels.
  test::TempDir dir("gen-fp16");
  auto r = generate(kFolder, kDdim, dir, "--precision fp16");
  if (r.exit_code != 0 && r.err.find("16-bit storage") != std::string::npos) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Diff d = compare(kDdim, dir);
  EXPECT_LE(d.latent_rel, 1e-2);
  EXPECT_LE(d.pixel, 2);
}

TEST(GenerateCli, GuidanceScaleOneIsASinglePassAndJsonSummary) {
  test::TempDir dir("gen-json");
  auto r = run_cli("generate --quiet --json --model " + kFolder + " --prompt 'a cat' --steps 2 --seed 3 --cfg-scale 1 "
                   "--precision fp32 --output " + (dir / "a.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["files"][0]["path"], dir / "a.png");
  EXPECT_EQ(j["seed"], 3);
  EXPECT_TRUE(j["seconds"].contains("denoise"));
  EXPECT_TRUE(fs::exists(dir / "a.png"));
  // Same seed with guidance differs (the negative branch took part).
  auto r2 = run_cli("generate --quiet --model " + kFolder + " --prompt 'a cat' --steps 2 --seed 3 --cfg-scale 7 "
                    "--precision fp32 --output " + (dir / "b.png"));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_NE(test::slurp(dir / "a.png"), test::slurp(dir / "b.png"));
}

TEST(GenerateCli, CounterNeverOverwrites) {
  test::TempDir dir("gen-counter");
  const std::string base = "generate --quiet --model " + kFolder + " --prompt x --steps 1 --seed 1 --precision fp32 ";
  ASSERT_EQ(run_cli(base + "--output " + (dir / "o-{n}.png")).exit_code, 0);
  ASSERT_EQ(run_cli(base + "--output " + (dir / "o-{n}.png")).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "o-00001.png"));
  EXPECT_TRUE(fs::exists(dir / "o-00002.png"));
  // A fixed name that exists is refused before any work, and the file is untouched.
  std::string before = test::slurp(dir / "o-00001.png");
  auto r = run_cli(base + "--output " + (dir / "o-00001.png"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("file exists"), std::string::npos) << r.err;
  EXPECT_EQ(test::slurp(dir / "o-00001.png"), before);
}

struct BadInput {
  const char* what;
  std::string args;
  const char* message;  // part of the one-line error
};

class GenerateBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(GenerateBadInput, OneLineErrorAndNothingWritten) {
  test::TempDir dir("gen-bad");
  const BadInput& b = GetParam();
  std::string args = b.args;
  for (size_t at; (at = args.find("DIR")) != std::string::npos;) args.replace(at, 3, dir.path());
  auto r = run_cli("generate --quiet " + args);
  EXPECT_NE(r.exit_code, 0) << b.what;
  EXPECT_NE(r.err.find(b.message), std::string::npos) << b.what << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << b.what << ": " << r.err;
  EXPECT_TRUE(fs::is_empty(dir.path())) << b.what << " left files behind";
}

const std::string kOk = "--model " + kFolder + " --precision fp32 --steps 1 ";

INSTANTIATE_TEST_SUITE_P(
    Cases, GenerateBadInput,
    ::testing::Values(
        BadInput{"missing model", "--model DIR/nope --prompt x --output DIR/a.png", "nope"},
        BadInput{"no prompt", kOk + "--output DIR/a.png", "--prompt"},
        BadInput{"zero steps", kOk + "--prompt x --steps 0 --output DIR/a.png", "--steps"},
        BadInput{"bad cfg", kOk + "--prompt x --cfg-scale abc --output DIR/a.png", "--cfg-scale"},
        BadInput{"size not a multiple", kOk + "--prompt x --width 50 --output DIR/a.png", "multiple of 4"},
        BadInput{"unknown scheduler", kOk + "--prompt x --scheduler nope --output DIR/a.png", "unknown scheduler"},
        BadInput{"unwritable output", kOk + "--prompt x --output DIR/missing/a.png", "does not exist"},
        BadInput{"empty prompts file", kOk + "--prompts-file /dev/null --output DIR/a.png", "no prompts"},
        BadInput{"unreadable init image", kOk + "--prompt x --init-image DIR/none.png --output DIR/a.png", "none.png"},
        BadInput{"wrong-size init noise",
                 kOk + "--prompt x --init-noise " + kRuns + "dpmpp2m_karras_6.safetensors --output DIR/a.png", "noise"},
        BadInput{"unknown flag", kOk + "--prompt x --frobnicate --output DIR/a.png", "--frobnicate"},
        BadInput{"missing lora", kOk + "--prompt x --lora DIR/none.safetensors --output DIR/a.png", "none.safetensors"},
        BadInput{"lora weight", kOk + "--prompt x --lora a.safetensors:nan --output DIR/a.png", "--lora a.safetensors:nan"},
        BadInput{"not a lora", kOk + "--prompt x --lora " + kFolder + "/vae/diffusion_pytorch_model.safetensors --output DIR/a.png",
                 "not a LoRA file"},
        BadInput{"lora tag without a folder", kOk + "--prompt 'x <lora:kohya>' --output DIR/a.png", "--prompt: <lora:kohya>"},
        BadInput{"lora tag with a path", kOk + "--prompt 'x <lora:../y>' --lora-dir DIR --output DIR/a.png", "without a path"},
        BadInput{"same name for a batch", kOk + "--prompt x --batch 2 --output DIR/a.png", "several images"},
        // A zero scaling factor makes the decoder's input infinite: the NaN check names the
        // stage instead of writing a black image.
        BadInput{"non-finite image", kOk + "--prompt x --config-override vae.scaling_factor=0 --output DIR/a.png",
                 "decode image 1"}));

// LoRA (tests/data/lora, see test_lora for the merge itself): weight 0 leaves the run bit-identical,
// a <lora:NAME:W> tag does what --lora FILE:W does and stays in the recorded prompt, and the PNG
// records the LoRA's and (for a single file) the model's hash as AUTOMATIC1111 writes them.
TEST(GenerateCli, LoraFlagsTagsAndHashes) {
  test::TempDir dir("gen-lora");
  const std::string lora = kData + "/lora/kohya.safetensors";
  auto run = [&](const std::string& name, const std::string& model, const std::string& prompt, const std::string& extra) {
    auto r = run_cli("generate --quiet --precision fp32 --steps 2 --seed 5 --width 32 --height 32 --model " + model +
                     " --prompt '" + prompt + "' --output " + (dir / (name + ".png")) + " --save-latents " +
                     (dir / (name + ".safetensors")) + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    return test::tensor_values(dir / (name + ".safetensors"), "latents");
  };
  auto base = run("base", kFolder, "a cat", "");
  EXPECT_EQ(run("zero", kFolder, "a cat", "--lora " + lora + ":0"), base);
  auto flag = run("flag", kFolder, "a cat", "--lora " + lora + ":0.7");
  EXPECT_NE(flag, base);
  EXPECT_EQ(run("tag", kFolder, "a cat <lora:kohya:0.7>", "--lora-dir " + kData + "/lora"), flag);

  std::map<std::string, std::string> text;
  read_image(dir / "tag.png", &text);
  GenerationParameters p = parse_parameters(text.at("parameters"));
  EXPECT_EQ(p.prompt, "a cat <lora:kohya:0.7>");
  EXPECT_TRUE(p.model_hash.empty()) << "a folder has no file hash";
  bool recorded = false;
  for (auto& [k, v] : p.extra) recorded |= k == "Lora hashes" && v == "kohya: " + sha256_file(lora).substr(0, 10);
  EXPECT_TRUE(recorded) << text.at("parameters");

  run("single", kSingleFile, "a cat", kSingleFileConfig);
  read_image(dir / "single.png", &text);
  EXPECT_EQ(parse_parameters(text.at("parameters")).model_hash, sha256_file(kSingleFile).substr(0, 10));

  std::ofstream(dir / "prompts.txt") << "a <lora:kohya:0.5>\nb <lora:kohya:0.7>\n";
  auto r = run_cli("generate --quiet --model " + kFolder + " --lora-dir " + kData + "/lora --prompts-file " +
                   (dir / "prompts.txt") + " --output " + (dir / "never-{n}.png"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("prompt 2: names other LoRAs"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "never-00001.png"));
}

TEST(GenerateCli, BestOfKeepsTheTopRankedByClip) {
  // A CLIP folder in Hugging Face layout: clip_tiny's weights with the CLIP BPE tokenizer.
  test::TempDir clip("gen-clip"), dir("gen-best");
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(kData + "/clip_tiny/" + f, clip / f);
  for (const char* f : {"vocab.json", "merges.txt"}) fs::copy_file(kData + "/clip_tokenizer/" + f, clip / f);
  auto r = run_cli("generate --quiet --json --model " + kFolder + " --prompt 'a red circle' --steps 2 --seed 5 "
                   "--precision fp32 --best-of 3 --keep 2 --rerank-clip " + clip.path() + " --output " + (dir / "best-{rank}.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["files"].size(), 2u);
  EXPECT_GE(j["files"][0]["clip_score"].get<double>(), j["files"][1]["clip_score"].get<double>());
  EXPECT_FALSE(fs::exists(dir / "best-3.png"));
  // The score in the file's record is what `sdvk score` gives the written PNG.
  std::map<std::string, std::string> text;
  read_image(dir / "best-1.png", &text);
  GenerationParameters p = parse_parameters(text.at("parameters"));
  auto s = run_cli("score --json --precision fp32 --clip " + clip.path() + " " + (dir / "best-1.png"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  nlohmann::json sj = nlohmann::json::parse(s.out);
  std::string recorded;
  for (auto& [k, v] : p.extra)
    if (k == "CLIP score") recorded = v;
  ASSERT_FALSE(recorded.empty()) << text.at("parameters");
  EXPECT_NEAR(std::stod(recorded), j["files"][0]["clip_score"].get<double>(), 1e-3 * 100);
  EXPECT_NEAR(sj["results"][0]["score"].get<double>(), j["files"][0]["clip_score"].get<double>(), 1e-3);
}

TEST(GenerateCli, ImageToImageStartsFromTheImage) {
  test::TempDir dir("gen-img2img");
  const std::string base = "generate --quiet --model " + kFolder + " --prompt 'a cat' --steps 4 --seed 2 --precision fp32 ";
  ASSERT_EQ(run_cli(base + "--output " + (dir / "start.png")).exit_code, 0);
  auto r = run_cli(base + "--init-image " + (dir / "start.png") + " --strength 0.5 --output " + (dir / "i2i.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> text;
  Image out = read_image(dir / "i2i.png", &text);
  EXPECT_EQ(out.width, 64);
  bool has_strength = false;
  for (auto& [k, v] : parse_parameters(text.at("parameters")).extra) has_strength |= k == "Denoising strength" && v == "0.5";
  EXPECT_TRUE(has_strength) << text.at("parameters");
  // A size other than the image's is refused, naming the flag.
  auto bad = run_cli(base + "--init-image " + (dir / "start.png") + " --width 32 --output " + (dir / "x.png"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--init-image"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
}

// Robustness campaign (issue 17). A copy of the tiny pipeline whose file `file` (relative)
// holds `content`; every other file is a link to the original.
std::string model_with(const test::TempDir& dir, const std::string& file, const std::string& content) {
  const fs::path model = dir / "model";
  for (auto& e : fs::recursive_directory_iterator(kFolder)) {
    fs::path rel = fs::relative(e.path(), kFolder);
    if (e.is_directory()) fs::create_directories(model / rel);
    else if (rel != file) fs::create_symlink(fs::absolute(e.path()), model / rel);
  }
  std::ofstream(model / file, std::ios::binary) << content;
  return model.string();
}

std::string with_key(const std::string& json_file, const std::string& key, const std::string& raw_value) {
  std::string text = nlohmann::json::parse(test::slurp(kFolder + "/" + json_file)).dump();
  return text.substr(0, text.size() - 1) + ",\"" + key + "\":" + raw_value + "}";
}

struct EarlyCase {
  const char* what;
  std::string args;     // DIR is the test's folder
  const char* message;  // part of the one-line error
};

class GenerateChecksFirst : public ::testing::TestWithParam<EarlyCase> {};

// Every request problem is found before the model loads: with a model path that does not
// exist, the error is still about the request, not the model.
TEST_P(GenerateChecksFirst, BeforeTheModelLoads) {
  test::TempDir dir("gen-early");
  const EarlyCase& c = GetParam();
  fs::create_directories(dir / "folder");
  std::ofstream(dir / "nul.txt") << std::string("a red circle\nblue\0square\n", 25);
  std::ofstream(dir / "huge.txt") << std::string(1 << 20, 'a') << "\n";
  std::ofstream(dir / "old.safetensors") << "x";
  ASSERT_EQ(::mkfifo((dir / "fifo.png").c_str(), 0644), 0);
  std::string args = c.args, message = c.message;
  for (std::string* s : {&args, &message})
    for (size_t at; (at = s->find("DIR")) != std::string::npos;) s->replace(at, 3, dir.path());
  auto r = run_cli("generate --quiet --model " + dir.path() + "/no-model --steps 1 " + args);
  EXPECT_NE(r.exit_code, 0) << c.what;
  EXPECT_NE(r.err.find(message), std::string::npos) << c.what << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.what << ": " << r.err;
  EXPECT_FALSE(fs::is_regular_file(fs::symlink_status(dir / "fifo.png"))) << c.what << " replaced the FIFO";
  EXPECT_EQ(test::slurp(dir / "old.safetensors"), "x") << c.what;
}

const std::string kBreaks = [] {
  std::string p = "--prompt 'a";
  for (int i = 0; i < 40; i++) p += " BREAK b";
  return p + "'";
}();

INSTANTIATE_TEST_SUITE_P(
    Cases, GenerateChecksFirst,
    ::testing::Values(
        EarlyCase{"output is a folder", "--prompt x --output DIR/folder", "DIR/folder: is a folder"},
        EarlyCase{"output is a folder, --overwrite", "--prompt x --overwrite --output DIR/folder", "is a folder"},
        EarlyCase{"output is a FIFO, --overwrite", "--prompt x --overwrite --output DIR/fifo.png", "is not a regular file"},
        EarlyCase{"NUL byte in a prompt", "--prompts-file DIR/nul.txt --output DIR/a.png", "nul.txt line 2: the prompt holds a NUL byte"},
        EarlyCase{"1 MB prompt", "--prompts-file DIR/huge.txt --output DIR/a.png", "over the limit of 8192"},
        EarlyCase{"40 BREAKs", kBreaks + " --output DIR/a.png", "40 BREAKs, over the limit of 31"},
        EarlyCase{"prompts file is a folder", "--prompts-file DIR/folder --output DIR/a.png", "is a folder, not a file"},
        EarlyCase{"strength without init image", "--prompt x --strength 0.5 --output DIR/a.png", "--strength needs --init-image"},
        EarlyCase{"repeated flag", "--prompt x --steps 2 --steps 3 --output DIR/a.png", "--steps is given more than once"},
        EarlyCase{"empty number", "--prompt x --cfg-scale= --output DIR/a.png", "--cfg-scale needs a value, got an empty one"},
        EarlyCase{"empty seed", "--prompt x --seed '' --output DIR/a.png", "--seed needs a value, got an empty one"},
        EarlyCase{"existing latents file", "--prompt x --save-latents DIR/old.safetensors --output DIR/a.png",
                  "old.safetensors: file exists"},
        EarlyCase{"init noise is a folder", "--prompt x --init-noise DIR/folder --output DIR/a.png", "DIR/folder: is a directory"},
        EarlyCase{"tokenizer is not one", "--prompt x --tokenizer DIR/nul.txt --output DIR/a.png",
                  "nul.txt: not a sentencepiece model"},
        EarlyCase{"override value not JSON", "--prompt x --config-override unet.sample_size=12abc --output DIR/a.png",
                  "not JSON"}));

struct ModelCase {
  const char* what;
  std::string file, content;  // the model's file that is changed, and its new text
  std::string args;
  const char* message;
};

class GenerateBadModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(GenerateBadModel, RefusedAtLoadNamingFileAndKey) {
  test::TempDir dir("gen-model");
  const ModelCase& c = GetParam();
  std::string model = c.file.empty() ? kFolder : model_with(dir, c.file, c.content);
  auto r = run_cli("generate --quiet --model " + model + " --precision fp32 --steps 1 --prompt x " + c.args +
                   " --output " + (dir / "a.png"));
  EXPECT_NE(r.exit_code, 0) << c.what;
  EXPECT_NE(r.err.find(c.message), std::string::npos) << c.what << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.what << ": " << r.err;
  EXPECT_LT(r.err.size(), 400u) << c.what << ": " << r.err;
  EXPECT_FALSE(fs::exists(dir / "a.png")) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GenerateBadModel,
    ::testing::Values(
        ModelCase{"huge sample_size", "", "", "--config-override unet.sample_size=100000000",
                  "unet/config.json: \"sample_size\" must be at most 2048"},
        ModelCase{"zero sample_size", "", "", "--config-override unet.sample_size=0", "\"sample_size\" is 0"},
        ModelCase{"per-level transformer depth the file lacks", "", "",
                  "--config-override 'unet.transformer_layers_per_block=[1,2,1]'",
                  "tensors missing: 'down_blocks.1.attentions.0.transformer_blocks.1."},
        ModelCase{"huge freq_shift", "", "", "--config-override unet.freq_shift=99999999", "\"freq_shift\" is 99999999"},
        ModelCase{"centred input", "", "", "--config-override unet.center_input_sample=true", "\"center_input_sample\" must be false"},
        ModelCase{"unknown override key", "", "", "--config-override unet.sampel_size=8", "unet.sampel_size: no such key"},
        ModelCase{"override for a missing part", "", "", "--config-override clip.x=1", "has no clip"},
        ModelCase{"unsupported act_fn", "unet/config.json", with_key("unet/config.json", "act_fn", "\"gelu\""), "",
                  "unet/config.json: \"act_fn\" 'gelu' is not supported"},
        ModelCase{"number overflow", "unet/config.json", with_key("unet/config.json", "norm_eps", "1" + std::string(5000, '0') + "e999"),
                  "", "unet/config.json: not valid JSON (a number is out of range)"},
        ModelCase{"beta_end below beta_start", "scheduler/scheduler_config.json",
                  with_key("scheduler/scheduler_config.json", "beta_start", "0.5"), "", "beta_end: 0.012000 is below beta_start"},
        ModelCase{"unknown pipeline class", "model_index.json",
                  R"({"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"]})", "",
                  "model_index.json: _class_name 'FluxPipeline' is not a supported pipeline (SD 3 and Flux"},
        ModelCase{"entry naming a path", "model_index.json",
                  with_key("model_index.json", "evil", R"(["../../..", "UNet2DConditionModel"])"), "",
                  "entry 'evil'"}));

TEST(GenerateCli, LinkedOutputIsWrittenThroughAndStaysALink) {
  test::TempDir dir("gen-link");
  fs::create_directories(dir / "real");
  std::ofstream(dir / "real/target.png") << "old";
  fs::create_symlink("real/target.png", dir / "link.png");
  auto r = run_cli("generate --quiet --model " + kFolder + " --prompt x --steps 1 --seed 1 --precision fp32 --overwrite "
                   "--output " + (dir / "link.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir / "link.png"));
  EXPECT_EQ(read_image(dir / "real/target.png").width, 64);
}

TEST(GenerateCli, PromptOverTheWindowLimitIsRefusedBeforeTheDevice) {
  test::TempDir dir("gen-windows");
  std::string words;
  for (int i = 0; i < 3000; i++) words += "a ";  // 6 KB, 3000 tokens: 40 windows of 75
  auto r = run_cli("generate --quiet --model " + kFolder + " --prompt '" + words + "' --steps 1 --output " + (dir / "a.png"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--prompt: prompt: needs 40 windows"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("over the limit of 32"), std::string::npos) << r.err;
  r = run_cli("generate --quiet --model " + kFolder + " --prompt x --negative-prompt '" + words + "' --steps 1 --output " +
              (dir / "a.png"));
  EXPECT_NE(r.err.find("--negative-prompt: prompt: needs 40 windows"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "a.png"));
}
