// SDXL against diffusers' StableDiffusionXLPipeline (tests/data/pipeline-sdxl, from
// ../shared/golden): the conditioning (both text encoders, the pooled embedding, zero uncond
// rows, add_time_ids) and whole runs of `sdvk generate` from the folder and the single file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "image/image.h"
#include "image/parameters.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "pipeline/model_setup.h"
#include "pipeline/pipeline.h"
#include "tests/support/cli_run.h"
#include "tests/support/golden_run.h"
#include "tests/support/vk_test.h"
#include "text_encoder/tokenizer.h"

using namespace sdvk;
using test::GoldenRun;
using test::run_cli;

namespace {

const std::string kData = SDVK_TEST_DATA;
const std::string kFolder = kData + "/pipeline-sdxl/tiny-sdxl";
const std::string kSingleFile = kData + "/pipeline-sdxl/tiny-sdxl.safetensors";
const std::string kRuns = kData + "/pipeline-sdxl/runs";
// No tensor shape of the single file tells the tiny model's head counts (real SDXL's are
// 64 wide, which the loader assumes).
const std::string kSingleFileConfig =
    " --config-override text_encoder.num_attention_heads=2 --config-override text_encoder_2.num_attention_heads=4"
    " --config-override 'unet.attention_head_dim=[2,4,6]'";

// euler_6 has no negative prompt, so its uncond rows are zeros (force_zeros_for_empty_prompt).
const GoldenRun kEuler6 = {"euler_6", "--prompt 'a lighthouse on a cliff at dusk' --steps 6 --cfg-scale 5 --seed 42", 1};
// euler_4_neg: a negative prompt, a 48x80 image said to be cropped at (8, 16) from 96x160.
const GoldenRun kEuler4Neg = {"euler_4_neg",
                              "--prompt 'a red fox in the snow, photo' --negative-prompt 'blurry, cartoon' --steps 4 "
                              "--cfg-scale 7 --seed 7 --width 80 --height 48 --original-size 160x96 "
                              "--crop-top-left 8,16",
                              1};

double max_rel(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double peak = 0, err = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); i++) {
    peak = std::max(peak, double(std::fabs(want[i])));
    err = std::max(err, double(std::fabs(got[i] - want[i])));
  }
  return err / peak;
}

class SdxlConditioning : public test::VkTest {};

// Runs `run` on `model` with `extra` flags and checks its latents and pixels against diffusers'.
void expect_run_within(const std::string& model, const GoldenRun& run, const std::string& extra, double latent_rel,
                       int pixel) {
  test::TempDir dir("sdxl-" + run.name);
  auto r = test::generate_run(model, run, dir, extra + (model == kSingleFile ? kSingleFileConfig : ""));
  if (r.exit_code != 0 && r.err.find("16-bit storage") != std::string::npos) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  test::GoldenDiff d = test::compare_run(kRuns, run, dir);
  EXPECT_LE(d.latent_rel, latent_rel);
  EXPECT_LE(d.pixel, pixel);
}

}  // namespace

// prompt_embeds [2,77,96] (encoder 1's hidden_states[-2] ++ encoder 2's, no final norm),
// pooled [2,48] and add_time_ids [2,6], uncond row first, in float32.
TEST_F(SdxlConditioning, MatchesDiffusersForBothRuns) {
  WeightSet weights = WeightSet::load(kFolder);
  EXPECT_EQ(weights.family(), "SDXL");
  EXPECT_TRUE(weights.force_zeros_for_empty_prompt());
  auto tok = load_tokenizer(pipeline::tokenizer_path(weights));
  auto tok2 = load_tokenizer(pipeline::tokenizer_2_path(weights));
  EXPECT_EQ(tok2->pad_id(), 0);  // tokenizer_2 pads with "!"
  pipeline::Progress progress(true);
  pipeline::Pipeline pipe(test::ctx(), weights, *tok, DType::F32, progress, tok2.get());
  EXPECT_TRUE(pipe.is_sdxl());
  EXPECT_EQ(pipe.default_size(), 64);  // the UNet's sample_size 16 x the 3-level VAE's 4
  struct Case {
    std::string run, prompt, negative;
    std::vector<float> time_ids;
  };
  for (const Case& c : {Case{"euler_6", "a lighthouse on a cliff at dusk", "", pipeline::sdxl_time_ids(64, 64, 0, 0, 64, 64)},
                        Case{"euler_4_neg", "a red fox in the snow, photo", "blurry, cartoon",
                             pipeline::sdxl_time_ids(96, 160, 8, 16, 48, 80)}}) {
    SCOPED_TRACE(c.run);
    const std::string golden = kRuns + "/" + c.run + ".safetensors";
    pipeline::Conditioning cond = pipe.encode({c.prompt}, {c.negative}, true, 0);
    EXPECT_EQ(cond.embeddings.shape, (Shape{2, 77, 96}));
    EXPECT_EQ(cond.pooled.shape, (Shape{2, 48}));
    EXPECT_LE(max_rel(cond.embeddings.values, test::tensor_values(golden, "prompt_embeds")), 1e-4);
    EXPECT_LE(max_rel(cond.pooled.values, test::tensor_values(golden, "pooled_prompt_embeds")), 1e-4);
    std::vector<float> ids = test::tensor_values(golden, "add_time_ids");
    EXPECT_EQ(std::vector<float>(ids.begin(), ids.begin() + 6), c.time_ids);
    EXPECT_EQ(std::vector<float>(ids.begin() + 6, ids.end()), c.time_ids);  // the uncond row: the same
    if (c.negative.empty()) {  // zeros, not the encoding of ""
      EXPECT_TRUE(std::all_of(cond.embeddings.values.begin(), cond.embeddings.values.begin() + 77 * 96,
                              [](float v) { return v == 0.0f; }));
      EXPECT_TRUE(std::all_of(cond.pooled.values.begin(), cond.pooled.values.begin() + 48,
                              [](float v) { return v == 0.0f; }));
    }
  }
}

// Windows are padded as each release's tokenizer pads: a folder's own tokenizers decide (-1);
// a single file, which carries none, pads encoder 1 with end-of-text and encoder 2 with "!".
TEST(Sdxl, SingleFilePadsAsTheReleasedTokenizers) {
  EXPECT_EQ(pipeline::tokenizer_pad(WeightSet::load(kFolder), "text_encoder_2"), -1);
  WeightSet single = WeightSet::load(kSingleFile);
  EXPECT_EQ(pipeline::tokenizer_pad(single, "text_encoder"), 49407);
  EXPECT_EQ(pipeline::tokenizer_pad(single, "text_encoder_2"), 0);
  EXPECT_TRUE(single.force_zeros_for_empty_prompt());
  EXPECT_EQ(single.component("unet").config["addition_time_embed_dim"], 8);  // (96 - 48) / 6
}

TEST(SdxlCli, Float32FolderMatchesDiffusersEuler6) {
  test::TempDir dir("sdxl-euler6");
  auto r = test::generate_run(kFolder, kEuler6, dir, "--precision fp32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  test::GoldenDiff d = test::compare_run(kRuns, kEuler6, dir);
  EXPECT_LE(d.latent_rel, 1e-4);
  EXPECT_LE(d.pixel, 1);
  // The defaults are the model's: 64x64 (sample_size), Euler (its scheduler config).
  std::map<std::string, std::string> text;
  read_image(dir / "img-0.png", &text);
  GenerationParameters p = parse_parameters(text.at("parameters"));
  EXPECT_EQ(p.width, 64);
  EXPECT_EQ(p.height, 64);
  EXPECT_EQ(p.sampler, "EulerDiscreteScheduler");
}

TEST(SdxlCli, Float32MicroConditioningMatchesDiffusersFolderAndSingleFile) {
  for (const std::string& model : {kFolder, kSingleFile}) {
    SCOPED_TRACE(model);
    expect_run_within(model, kEuler4Neg, "--precision fp32", 1e-4, 1);
  }
}

TEST(SdxlCli, Float32SingleFileMatchesDiffusersEuler6) {
  // The file states no sample_size: SDXL's 128 (1024x1024 images) is assumed, so the size is given.
  expect_run_within(kSingleFile, kEuler6, "--precision fp32 --width 64 --height 64", 1e-4, 1);
}

TEST(SdxlCli, Float16StaysNearTheReference) {
  // The UNet and text encoders store activations in float16 (2^-11 relative rounding); the
  // guidance step multiplies the UNet's error by the cfg scale (5) and 6 steps carry it along:
  // measured 1.4e-3 relative on lavapipe. 1e-2 leaves room for other devices' rounding order.
  // The VAE runs in float32 (force_upcast), so the image stays within 2 levels.
  expect_run_within(kFolder, kEuler6, "--precision fp16", 1e-2, 2);
}

TEST(SdxlCli, BadMicroConditioningFlagsAreOneLineErrors) {
  test::TempDir dir("sdxl-bad");
  struct Case {
    std::string args, message;
  };
  const std::string base = "generate --quiet --prompt x --steps 1 --output " + dir / "x.png";
  for (const Case& c :
       {Case{" --model " + kFolder + " --original-size 64", "--original-size 64: expected WIDTHxHEIGHT in pixels"},
        Case{" --model " + kFolder + " --original-size 0x64", "--original-size 0x64: expected WIDTHxHEIGHT"},
        Case{" --model " + kFolder + " --crop-top-left 1:2", "--crop-top-left 1:2: expected Y,X in pixels"},
        Case{" --model " + kFolder + " --crop-top-left -1,2", "--crop-top-left -1,2: expected Y,X"},
        Case{" --model " + kData + "/pipeline/tiny-sd --original-size 64x64",
             "--original-size / --crop-top-left: only SDXL models take micro-conditioning"}}) {
    SCOPED_TRACE(c.args);
    auto r = run_cli(base + c.args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

// `component text-encoder-2` gives encoder 2's hidden_states[-2] (its 64 columns of the
// golden prompt_embeds) and the pooled text_embeds.
TEST(SdxlCli, ComponentRunsTheSecondTextEncoder) {
  test::TempDir dir("sdxl-component");
  auto tok = load_tokenizer(kFolder + "/tokenizer_2");
  std::vector<int> ids = tok->encode_padded("a lighthouse on a cliff at dusk", 77);
  std::vector<int64_t> ids64(ids.begin(), ids.end());
  write_safetensors(dir / "in.safetensors", {{"input_ids", FileDType::I64, {1, 77}, ids64.data(), 77 * 8}});
  auto r = run_cli("component text-encoder-2 --model " + kFolder + " --input " + dir / "in.safetensors" + " --output " +
                   dir / "out.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string golden = kRuns + "/euler_6.safetensors";
  std::vector<float> embeds = test::tensor_values(golden, "prompt_embeds"), want;  // [2,77,96], row 1: the prompt
  for (int t = 0; t < 77; t++)
    want.insert(want.end(), embeds.begin() + (77 + t) * 96 + 32, embeds.begin() + (77 + t) * 96 + 96);
  EXPECT_LE(max_rel(test::tensor_values(dir / "out.safetensors", "penultimate_hidden_state"), want), 1e-4);
  std::vector<float> pooled = test::tensor_values(golden, "pooled_prompt_embeds");
  EXPECT_LE(max_rel(test::tensor_values(dir / "out.safetensors", "text_embeds"),
                    std::vector<float>(pooled.begin() + 48, pooled.end())), 1e-4);
}

TEST(SdxlCli, InspectNamesSdxlAndItsAssumptions) {
  auto r = run_cli("inspect " + kSingleFile);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("family:       SDXL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("text_encoder_2: CLIPTextModelWithProjection"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scheduler:    EulerDiscreteScheduler"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vae scaling_factor 0.13025 and force_upcast"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("text_encoder_2 pad_token_id 0"), std::string::npos) << r.out;
}
