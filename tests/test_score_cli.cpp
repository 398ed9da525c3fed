// ClipScorer and `sdvk score`: the golden cosine from clip_tiny's pixel_values, scores of image
// files against prompts from flags, a prompts file or PNG metadata, and one-line errors.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "clip/scorer.h"
#include "core/error.h"
#include "image/image.h"
#include "image/parameters.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "tests/support/cli_run.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

const std::string kData = SDVK_TEST_DATA;
const std::string kClip = kData + "/clip_tiny";

// sdvk score ARGS (validation on). No bundled data dir: the tests name every model, and the
// missing---clip case must not find a bundled demo CLIP.
int run_cli(const std::string& args, std::string* err = nullptr, std::string* out = nullptr) {
  test::CliResult r = test::run_cli("score " + args, "SDVK_DATA_DIR=/nonexistent-sdvk-data");
  if (err) *err = r.err;
  if (out) *out = r.out;
  return r.exit_code;
}

std::vector<float> golden(const std::string& name) {
  SafetensorsFile f(kClip + "/io.safetensors");
  return to_f32(*f.find(name));
}

// A CLIP folder as users bring it: clip_tiny's config and weights plus the CLIP tokenizer
// (clip_tiny itself ships none).
class ScoreFixture : public test::VkTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sdvk-score-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "clip");
    for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(kClip + "/" + f, dir_ / "clip" / f);
    for (const char* f : {"vocab.json", "merges.txt"}) fs::copy_file(kData + "/clip_tokenizer/" + f, dir_ / "clip" / f);
    // Three images with metadata, one without.
    for (int i = 0; i < 4; i++) {
      Image img{40 + 7 * i, 32 + 5 * i, 3, {}};
      for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++)
          for (int c = 0; c < 3; c++) img.pixels.push_back(uint8_t((x * (c + 1) * 13 + y * (i + 2) * 7) % 256));
      GenerationParameters p;
      p.prompt = kPrompts[i % 3];
      p.steps = 1;
      std::vector<std::pair<std::string, std::string>> text;
      if (i < 3) text.push_back({"parameters", format_parameters(p)});
      write_png((dir_ / ("img" + std::to_string(i) + ".png")).string(), img, text);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string img(int i) { return (dir_ / ("img" + std::to_string(i) + ".png")).string(); }
  static std::string model() { return (dir_ / "clip").string(); }

  static inline fs::path dir_;
  static inline const char* kPrompts[3] = {"a photo of a cat", "a red circle on a blue background, on the left",
                                           "an astronaut riding a horse on the moon"};
};

TEST_F(ScoreFixture, ScorerMatchesGoldenEmbeddings) {
  WeightSet w = WeightSet::load(model());
  std::string tok = ClipScorer::find_tokenizer(w);
  EXPECT_EQ(tok, model());
  ClipScorer s(test::ctx(), w.component("clip"), load_tokenizer(tok), DType::F32);
  EXPECT_EQ(s.image_size(), 32);
  EXPECT_FALSE(s.preprocess_note().empty());  // defaults say 224, the model takes 32
  // Prompts through the tokenizer reach the golden text_embeds (io.json's texts).
  std::vector<float> text = s.embed_texts({kPrompts[0], kPrompts[1], kPrompts[2]});
  test::expect_close(text, golden("text_embeds"), 1e-4, "text_embeds from prompts");
  std::vector<float> image = s.embed_pixel_values(golden("pixel_values"), 2);
  test::expect_close(image, golden("image_embeds"), 1e-4, "image_embeds");
  // scores(): cosine of the image's and the prompt's embeddings, CLIP score = 100 max(cos, 0).
  std::vector<Image> imgs = {read_image(img(0)), read_image(img(1)), read_image(img(2))};
  std::vector<std::string> prompts = {kPrompts[2], kPrompts[0], kPrompts[2]};
  std::vector<ClipScore> sc = s.scores(imgs, prompts);
  std::vector<float> ie = s.embed_images(imgs), te = s.embed_texts(prompts);
  for (size_t i = 0; i < 3; i++) {
    std::vector<float> a(ie.begin() + long(i) * 32, ie.begin() + long(i + 1) * 32);
    std::vector<float> b(te.begin() + long(i) * 32, te.begin() + long(i + 1) * 32);
    EXPECT_FLOAT_EQ(sc[i].cosine, ClipVisionModel::cosine_image_text(a, b, 32)[0]);
    EXPECT_FLOAT_EQ(sc[i].score, 100.0f * std::max(sc[i].cosine, 0.0f));
  }
  EXPECT_THROW(s.scores(imgs, {kPrompts[0]}), Error);
  // Without a tokenizer only token ids can be scored.
  EXPECT_THROW(ClipScorer::open(test::ctx(), kClip, DType::F32), Error);
  std::unique_ptr<ClipScorer> ids_only = ClipScorer::open(test::ctx(), kClip, DType::F32, LoadOptions(), "", false);
  EXPECT_FALSE(ids_only->has_tokenizer());
  EXPECT_THROW(ids_only->embed_texts({"a cat"}), Error);
}

// The acceptance check: `score` on clip_tiny reproduces cosine_image_text from pixel_values.
TEST_F(ScoreFixture, PixelValuesReproduceGoldenCosine) {
  std::string out, err;
  ASSERT_EQ(run_cli("--clip " + kClip + " --precision fp32 --json --pixel-values " + kClip + "/io.safetensors",
                    &err, &out),
            0)
      << err;
  nlohmann::json j = nlohmann::json::parse(out);
  std::vector<float> cos;
  for (auto& row : j["cosine_image_text"])
    for (auto& v : row) cos.push_back(v.get<float>());
  test::expect_close(cos, golden("cosine_image_text"), 1e-4, "cosine_image_text");
  EXPECT_EQ(j["images"], 2);
  // The table form prints the same matrix; the texts are decoded when a tokenizer is at hand.
  ASSERT_EQ(run_cli("--clip " + model() + " --precision fp32 --input-ids --pixel-values " + kClip +
                        "/io.safetensors",
                    &err, &out),
            0)
      << err;
  EXPECT_NE(out.find("cosine_image_text [2 images x 3 texts]"), std::string::npos) << out;
  EXPECT_NE(out.find("an astronaut riding a horse on the moon"), std::string::npos) << out;
  // float16 storage: the bound of tests/test_clip.cpp's vision test.
  ASSERT_EQ(run_cli("--clip " + kClip + " --precision fp16 --json --pixel-values " + kClip + "/io.safetensors",
                    &err, &out),
            0)
      << err;
  j = nlohmann::json::parse(out);
  cos.clear();
  for (auto& row : j["cosine_image_text"])
    for (auto& v : row) cos.push_back(v.get<float>());
  test::expect_close(cos, golden("cosine_image_text"), 1e-2, "cosine_image_text fp16");
}

TEST_F(ScoreFixture, ImagesRankedWithPromptsFromEachSource) {
  std::string out, err;
  // Prompts from PNG metadata.
  ASSERT_EQ(run_cli("--clip " + model() + " --precision fp32 --json " + img(0) + " " + img(1) + " " + img(2), &err, &out), 0)
      << err;
  nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_EQ(j["results"].size(), 3u);
  double sum = 0;
  std::set<std::string> prompts;
  for (size_t i = 0; i < 3; i++) {
    auto& r = j["results"][i];
    EXPECT_EQ(r["rank"], i + 1);
    if (i > 0) {
      EXPECT_GE(j["results"][i - 1]["cosine"].get<double>(), r["cosine"].get<double>());
    }
    EXPECT_NEAR(r["score"].get<double>(), 100 * std::max(r["cosine"].get<double>(), 0.0), 1e-4);
    sum += r["score"].get<double>();
    prompts.insert(r["prompt"].get<std::string>());
  }
  EXPECT_EQ(prompts, (std::set<std::string>{kPrompts[0], kPrompts[1], kPrompts[2]}));
  EXPECT_NEAR(j["summary"]["mean"].get<double>(), sum / 3, 1e-4);
  EXPECT_EQ(j["summary"]["n"], 3);
  // The same images and prompts in-process give the same cosines.
  {
    std::unique_ptr<ClipScorer> s = ClipScorer::open(test::ctx(), model(), DType::F32);
    std::vector<ClipScore> sc = s->scores({read_image(img(1))}, {kPrompts[1]});
    bool found = false;
    for (auto& r : j["results"])
      if (r["image"] == img(1)) {
        EXPECT_NEAR(r["cosine"].get<double>(), sc[0].cosine, 1e-6);
        found = true;
      }
    EXPECT_TRUE(found);
  }
  // A prompts file (IMAGE<TAB>PROMPT, matched by path or file name) and CSV.
  fs::path pf = dir_ / "prompts.tsv";
  std::ofstream(pf) << "# image\tprompt\n" << img(3) << "\ta green square\n\nimg0.png\ta blue sky, \"quoted\"\n";
  ASSERT_EQ(run_cli("--clip " + model() + " --csv --prompts-file " + pf.string() + " " + img(3) + " " + img(0), &err, &out), 0)
      << err;
  EXPECT_EQ(out.substr(0, out.find('\n')), "rank,score,cosine,image,prompt");
  EXPECT_NE(out.find(img(3) + ",a green square\n"), std::string::npos) << out;
  EXPECT_NE(out.find(img(0) + ",\"a blue sky, \"\"quoted\"\"\"\n"), std::string::npos) << out;
  // --prompt for all, the table and the summary line.
  ASSERT_EQ(run_cli("--clip " + model() + " --prompt 'a cat' " + img(3) + " " + img(1), &err, &out), 0) << err;
  EXPECT_EQ(out.rfind("rank   score   cosine  image", 0), 0u) << out;
  EXPECT_NE(out.find("n 2, mean "), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4) << out;
}

// Several images per prompt: a per-prompt summary (n, mean, best, worst) in each format.
TEST_F(ScoreFixture, PerPromptSummaryForBatches) {
  fs::path pf = dir_ / "batch.tsv";
  std::ofstream(pf) << "img0.png\ta cat\nimg1.png\ta cat\nimg2.png\ta cat\nimg3.png\ta dog\n";
  const std::string base = "--clip " + model() + " --precision fp32 --prompts-file " + pf.string() + " " + img(0) + " " +
                           img(1) + " " + img(2) + " " + img(3);
  std::string out, err;
  ASSERT_EQ(run_cli(base + " --json", &err, &out), 0) << err;
  nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_EQ(j["prompts"].size(), 2u) << out;
  std::map<std::string, std::vector<double>> by_prompt;
  for (auto& r : j["results"]) by_prompt[r["prompt"]].push_back(r["score"].get<double>());
  for (auto& p : j["prompts"]) {
    const std::vector<double>& v = by_prompt[p["prompt"]];
    EXPECT_EQ(p["n"].get<size_t>(), v.size());
    EXPECT_NEAR(p["mean"].get<double>(), std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()), 1e-9);
    EXPECT_EQ(p["best"].get<double>(), *std::max_element(v.begin(), v.end()));
    EXPECT_EQ(p["worst"].get<double>(), *std::min_element(v.begin(), v.end()));
  }
  EXPECT_GE(j["prompts"][0]["mean"].get<double>(), j["prompts"][1]["mean"].get<double>());  // best mean first
  // The table: the summary lines after the rows; CSV: the prompt's statistics as extra columns.
  ASSERT_EQ(run_cli(base, &err, &out), 0) << err;
  EXPECT_NE(out.find("\nper prompt, best mean first:\n   n    mean    best   worst  prompt\n   "), std::string::npos) << out;
  EXPECT_NE(out.find("  a cat\n"), std::string::npos) << out;
  ASSERT_EQ(run_cli(base + " --csv", &err, &out), 0) << err;
  EXPECT_EQ(out.substr(0, out.find('\n')), "rank,score,cosine,image,prompt,prompt_n,prompt_mean,prompt_best,prompt_worst");
  EXPECT_NE(out.find(",a dog,1,"), std::string::npos) << out;
  EXPECT_NE(out.find(",a cat,3,"), std::string::npos) << out;
  // One image per prompt: no per-prompt summary (the rows say it all).
  ASSERT_EQ(run_cli("--clip " + model() + " --json " + img(0) + " " + img(1) + " " + img(2), &err, &out), 0) << err;
  EXPECT_FALSE(nlohmann::json::parse(out).contains("prompts")) << out;
}

// --sheet: a PNG grid written before the table is printed; without a font, nothing at all.
TEST_F(ScoreFixture, ContactSheet) {
  const std::string sheet = (dir_ / "sheet.png").string();
  const std::string args = "score --clip " + model() + " --prompt 'a cat' --sheet " + sheet + " " + img(0) + " " + img(1) + " " + img(2);
  test::CliResult r = test::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Image png = read_image(sheet);
  EXPECT_EQ(png.width, 2 * 144);  // three images: 2 columns, 2 rows (layout: tests/test_contact_sheet.cpp)
  EXPECT_EQ(png.height, 2 * 195);
  fs::remove(sheet);
  r = test::run_cli(args, "SDVK_FONT=/nonexistent/font.ttf");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "error: score: --sheet draws its text in /nonexistent/font.ttf, which is missing (install "
                   "fonts-dejavu-core, or set SDVK_FONT to a .ttf file)\n");
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(fs::exists(sheet));
  EXPECT_NE(run_cli("--clip " + model() + " --prompt x --sheet " + img(0) + " " + img(0), &r.err), 0);
  EXPECT_NE(r.err.find("would overwrite an input image"), std::string::npos) << r.err;
}

TEST_F(ScoreFixture, BadInputIsOneLineErrorAndNonZeroExit) {
  fs::path empty = dir_ / "empty.tsv", partial = dir_ / "partial.tsv", junk = dir_ / "junk.png";
  std::ofstream(empty) << "\n# nothing\n";
  std::ofstream(partial) << img(0) << "\ta cat\n";
  std::ofstream(junk) << "not a png";
  const std::string no_prompt = (dir_ / "no_prompt.png").string();
  write_png(no_prompt, Image{8, 8, 3, std::vector<uint8_t>(8 * 8 * 3, 9)}, {{"parameters", ""}});
  const std::string pixels = " --pixel-values " + kClip + "/io.safetensors";
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"--clip " + (dir_ / "nowhere").string() + " --prompt x " + img(0), "nowhere"},
      {"--prompt x " + img(0), "--clip is required"},
      {"--clip " + model() + " --prompt x " + (dir_ / "missing.png").string(), "missing.png: No such file"},
      {"--clip " + model() + " --prompt x " + junk.string(), "junk.png"},
      {"--clip " + model() + " --prompts-file " + empty.string() + " " + img(0), "empty.tsv: empty"},
      {"--clip " + model() + " --prompts-file " + partial.string() + " " + img(0) + " " + img(1), "no line for " + img(1)},
      {"--clip " + model() + " " + img(3), "img3.png: no \"parameters\" text chunk"},
      {"--clip " + model() + " --precision fp8 --prompt x " + img(0), "--precision fp8"},
      {"--clip " + model() + " --json --csv --prompt x " + img(0), "exclude"},
      {"--clip " + model() + " --prompt x --frobnicate " + img(0), "unknown argument '--frobnicate'"},
      {"--clip " + model() + " --prompt x", "no images"},
      {"--clip " + kClip + " --prompt x " + img(0), "no tokenizer"},
      {"--clip " + kData + "/vae_tiny --prompt x " + img(0), "clip"},
      {"--clip " + kClip + " --pixel-values " + kData + "/vae_tiny/io.safetensors", "no tensor 'pixel_values'"},
      {"--clip " + kClip + " --config-override nonsense --pixel-values " + kClip + "/io.safetensors", "KEY=VALUE"},
      // Robustness campaign (issue 17): misleading or missing refusals.
      {"--clip " + model() + " " + no_prompt, "no_prompt.png: the \"parameters\" text chunk holds no prompt"},
      {"--clip " + model() + " --prompt x --prompt y " + img(0), "--prompt is given more than once"},
      {"--clip " + model() + " --prompt " + std::string(9000, 'a') + " " + img(0), "over the limit of 8192"},
      {"--clip " + kClip + " --config-override vision_config.num_attention_headz=1" + pixels,
       "vision_config.num_attention_headz: no such key"},
      {"--clip " + kClip + " --config-override vision_config.num_attention_heads=1x" + pixels, "not JSON"},
      {"--clip " + kClip + " --config-override vision_config.layer_norm_eps=1e999" + pixels, "not JSON"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.args);
    std::string err, out;
    EXPECT_NE(run_cli(c.args, &err, &out), 0);
    EXPECT_EQ(err.rfind("error: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << err;
    EXPECT_TRUE(out.empty()) << out;
  }
}

}  // namespace
