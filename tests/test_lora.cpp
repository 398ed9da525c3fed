// LoRA merging (model/lora.h) against PyTorch's merge of the same files into the tiny SD and
// SDXL pipelines (tests/data/lora, made by scripts/make_lora_reference.py).
#include "model/lora.h"

#include <cstring>
#include <filesystem>
#include <map>

#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "tests/support/cli_run.h"
#include "tests/support/vk_test.h"
#include "tests/support/error_of.h"
#include "unet/unet.h"
#include "vk/error.h"

using namespace sdvk;

namespace {

const std::string kData = SDVK_TEST_DATA;
const std::string kModel = kData + "/pipeline/tiny-sd";
const std::string kLoras = kData + "/lora";
const std::string kSdxlFolder = kData + "/pipeline-sdxl/tiny-sdxl";
const std::string kSdxlSingleFile = kData + "/pipeline-sdxl/tiny-sdxl.safetensors";

// The reference merges of one file: "<component>/<tensor>" -> values. `prefix` "sdxl_" for the
// SDXL files.
std::map<std::string, std::vector<float>> reference_merges(const std::string& format, const std::string& prefix = "") {
  SafetensorsFile f(kLoras + "/" + prefix + "merged.safetensors");
  std::map<std::string, std::vector<float>> out;
  for (const TensorInfo& t : f.tensors())
    if (t.name.rfind(format + "/", 0) == 0) out[t.name.substr(format.size() + 1)] = to_f32(t);
  return out;
}

using test::error_of;

// Both formats: exactly the layers PyTorch merged change, to PyTorch's values; every other
// tensor keeps its bytes in the file mapping (the file's own tensors: the SDXL single file's
// transposed text projection never was).
void expect_merges_as_pytorch(const std::string& model, const std::string& prefix) {
  for (auto [format, weight] : {std::pair<std::string, float>{"kohya", 0.7f}, {"peft", 1.0f}}) {
    SCOPED_TRACE(model + " " + format);
    WeightSet w = WeightSet::load(model);
    auto applied = apply_loras(w, {{kLoras + "/" + prefix + format + ".safetensors", weight}});
    auto want = reference_merges(format, prefix);
    ASSERT_EQ(applied.size(), 1u);
    EXPECT_EQ(size_t(applied[0].layers), want.size());
    for (auto& [component, c] : w.components()) {
      for (auto& [name, t] : c.tensors) {
        auto it = want.find(component + "/" + name);
        if (it == want.end()) {
          EXPECT_TRUE(t.file_mapped || name == "text_projection.weight") << "changed " << component << " " << name;
          continue;
        }
        EXPECT_FALSE(t.file_mapped) << name;
        test::expect_close(to_f32(t), it->second, 1e-6, component + " " + name);
      }
    }
  }
}

TEST(Lora, MergesAsPyTorchDoes) { expect_merges_as_pytorch(kModel, ""); }

// SDXL: kohya's lora_te1_ / lora_te2_ and its original-checkpoint UNet names
// (lora_unet_input_blocks_4_1_...), PEFT's text_encoder_2; on the folder and on the single
// file, whose tensors come from other names but are the same weights.
TEST(Lora, MergesSdxlAsPyTorchDoes) {
  expect_merges_as_pytorch(kSdxlFolder, "sdxl_");
  expect_merges_as_pytorch(kSdxlSingleFile, "sdxl_");
}

// "FILE:WEIGHT" as --lora takes it; a ':' not followed by a number belongs to the path.
TEST(Lora, ParsesSpecs) {
  EXPECT_EQ(parse_lora_spec("a.safetensors").weight, 1.0f);
  LoraSpec s = parse_lora_spec("dir/a.safetensors:0.5");
  EXPECT_EQ(s.path, "dir/a.safetensors");
  EXPECT_EQ(s.weight, 0.5f);
  EXPECT_EQ(parse_lora_spec("c:/x.safetensors").path, "c:/x.safetensors");
  EXPECT_EQ(parse_lora_spec("a.safetensors:-1").weight, -1.0f);
  EXPECT_NE(error_of([] { parse_lora_spec(":0.5"); }).find("no file"), std::string::npos);
  EXPECT_NE(error_of([] { parse_lora_spec("a.safetensors:inf"); }).find("finite"), std::string::npos);
}

// <lora:NAME:WEIGHT> tags leave the prompt and name files in the LoRA folder only.
TEST(Lora, TakesPromptTags) {
  std::string p = "a cat <lora:ink:0.6>, in a hat<lora:film>";
  auto specs = take_prompt_loras(p, "/loras");
  EXPECT_EQ(p, "a cat , in a hat");
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].path, "/loras/ink.safetensors");
  EXPECT_EQ(specs[0].weight, 0.6f);
  EXPECT_EQ(specs[1].path, "/loras/film.safetensors");
  EXPECT_EQ(specs[1].weight, 1.0f);
  std::string plain = "no tags";
  EXPECT_TRUE(take_prompt_loras(plain, "").empty());
  for (auto [prompt, contains] : std::vector<std::pair<std::string, std::string>>{
           {"x <lora:../etc/passwd:1>", "without a path"},
           {"x <lora:..>", "without a path"},
           {"x <lora:a:b>", "not a number"},
           {"x <lora:a:1", "no closing"},
       }) {
    EXPECT_NE(error_of([&] { take_prompt_loras(prompt, "/loras"); }).find(contains), std::string::npos) << prompt;
  }
  std::string p2 = "x <lora:ink>";
  EXPECT_NE(error_of([&] { take_prompt_loras(p2, ""); }).find("needs a LoRA folder"), std::string::npos);
}

// Weight 0 checks the file and changes nothing.
TEST(Lora, WeightZeroLeavesTheWeightsAlone) {
  WeightSet w = WeightSet::load(kModel);
  auto applied = apply_loras(w, {{kLoras + "/kohya.safetensors", 0.0f}});
  EXPECT_GT(applied[0].layers, 0);
  for (auto& [component, c] : w.components())
    for (auto& [name, t] : c.tensors) EXPECT_TRUE(t.file_mapped) << component << " " << name;
}

// A UNet built from sdvk's merge computes what one built from PyTorch's merged tensors does,
// and not what the base model does.
TEST(Lora, UNetOfTheMergeMatchesPyTorchMergedWeights) {
  auto& ctx = test::ctx();
  WeightSet ours = WeightSet::load(kModel), theirs = WeightSet::load(kModel), base = WeightSet::load(kModel);
  apply_loras(ours, {{kLoras + "/kohya.safetensors", 0.7f}});
  for (auto& [key, values] : reference_merges("kohya")) {
    size_t slash = key.find('/');
    theirs.replace_tensor(key.substr(0, slash), key.substr(slash + 1),
                          std::make_shared<const std::vector<float>>(values), "merged.safetensors");
  }
  auto sample = test::random_vector(2 * 4 * 8 * 8, 1), ehs = test::random_vector(2 * 77 * 64, 2);
  auto run = [&](const WeightSet& w) {
    unet::UNet2DConditionModel model(ctx, w.component("unet"), DType::F32);
    Tensor x = Tensor::from_floats(ctx, {2, 4, 8, 8}, DType::F32, sample);
    Tensor t = Tensor::from_floats(ctx, {2}, DType::F32, {981.0f, 500.0f});
    Tensor e = Tensor::from_floats(ctx, {2, 77, 64}, DType::F32, ehs);
    Sequence s(ctx);
    Tensor y = model.forward(s, x, t, e);
    s.run();
    return y.download(ctx);
  };
  auto got = run(ours), want = run(theirs), plain = run(base);
  test::expect_close(got, want, 1e-4, "unet with kohya LoRA vs PyTorch-merged weights");
  EXPECT_GT(test::relative_error(plain, want), 1e-3) << "the LoRA should change the output";
}

// A copy of the tiny SDXL folder in `dir` whose weights files hold PyTorch's merge of `format`.
std::string sdxl_folder_with_merges(const test::TempDir& dir, const std::string& format) {
  const std::string out = dir / "merged-sdxl";
  std::filesystem::copy(kSdxlFolder, out, std::filesystem::copy_options::recursive);
  const std::map<std::string, std::string> files = {{"unet", "unet/diffusion_pytorch_model.safetensors"},
                                                    {"text_encoder", "text_encoder/model.safetensors"},
                                                    {"text_encoder_2", "text_encoder_2/model.safetensors"}};
  auto merges = reference_merges(format, "sdxl_");
  for (auto& [component, file] : files) {
    SafetensorsFile original(kSdxlFolder + "/" + file);
    std::vector<TensorToWrite> tensors;
    for (const TensorInfo& t : original.tensors()) {
      auto it = merges.find(component + "/" + t.name);
      if (it == merges.end())
        tensors.push_back({t.name, t.dtype, t.shape, t.data, t.size});
      else
        tensors.push_back({t.name, FileDType::F32, t.shape, it->second.data(), it->second.size() * 4});
    }
    std::filesystem::remove(out + "/" + file);
    write_safetensors(out + "/" + file, tensors);
  }
  return out;
}

// The whole SDXL pipeline (both text encoders, the pooled embedding, the UNet) with the LoRA
// merged by sdvk gives the latents of the model PyTorch merged, for both formats; weight 0
// gives the base model's latents bit for bit.
TEST(Lora, SdxlGenerateMatchesPyTorchMergedModel) {
  test::TempDir dir("lora-sdxl");
  const std::string run = "generate --quiet --precision fp32 --prompt 'a red fox' --negative-prompt 'blurry' --steps 3 "
                          "--seed 11 --output " + dir / "{n}.png --overwrite";
  auto latents = [&](const std::string& model, const std::string& extra, const std::string& name) {
    auto r = test::run_cli(run + " --model " + model + " --save-latents " + dir / name + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return test::tensor_values(dir / name, "latents");
  };
  const std::vector<float> base = latents(kSdxlFolder, "", "base.safetensors");
  for (auto [format, weight] : {std::pair<std::string, std::string>{"kohya", "0.7"}, {"peft", "1"}}) {
    SCOPED_TRACE(format);
    test::TempDir merged_dir("lora-sdxl-" + format);
    std::vector<float> ours = latents(kSdxlFolder, "--lora " + kLoras + "/sdxl_" + format + ".safetensors:" + weight,
                                      format + "-ours.safetensors");
    std::vector<float> theirs = latents(sdxl_folder_with_merges(merged_dir, format), "", format + "-theirs.safetensors");
    test::expect_close(ours, theirs, 1e-4, "SDXL latents, sdvk's merge vs PyTorch's");
    EXPECT_GT(test::relative_error(base, theirs), 1e-3) << "the LoRA should change the latents";
  }
  EXPECT_EQ(latents(kSdxlFolder, "--lora " + kLoras + "/sdxl_kohya.safetensors:0", "zero.safetensors"), base);
}

// Writes a LoRA file of the given tensors (float32) into `dir` and returns its path.
std::string write_lora(const test::TempDir& dir, const std::string& name,
                       const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
  static std::vector<float> zeros(1 << 16, 0.01f);
  std::vector<TensorToWrite> out;
  for (auto& [n, shape] : tensors) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    out.push_back({n, FileDType::F32, shape, zeros.data(), size_t(numel) * 4});
  }
  std::string path = dir / name;
  write_safetensors(path, out);
  return path;
}

// Each bad file: one Error naming the file and the key; nothing changes. Lenient skips and
// counts what does not fit and merges the rest.
TEST(Lora, BadFilesAreRefusedByName) {
  test::TempDir dir("lora");
  const std::string q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  auto expect_refused = [&](const std::string& path, const std::string& contains) {
    WeightSet w = WeightSet::load(kModel);
    std::string e = error_of([&] { apply_loras(w, {{path, 1.0f}}); });
    EXPECT_NE(e.find(contains), std::string::npos) << e;
    EXPECT_NE(e.find(path), std::string::npos) << e;
    for (auto& [component, c] : w.components())
      for (auto& [name, t] : c.tensors) EXPECT_TRUE(t.file_mapped) << name;
  };
  expect_refused(write_lora(dir, "nolayer.safetensors",
                            {{"lora_unet_down_blocks_9_conv.lora_down.weight", {2, 32}},
                             {"lora_unet_down_blocks_9_conv.lora_up.weight", {32, 2}}}),
                 "down_blocks_9_conv: no unet layer of that name");
  expect_refused(write_lora(dir, "shape.safetensors",
                            {{q + ".lora_down.weight", {2, 31}}, {q + ".lora_up.weight", {32, 2}}}),
                 "do not fit [32, 32]");
  expect_refused(write_lora(dir, "half.safetensors", {{q + ".lora_down.weight", {2, 32}}}), "not both");
  expect_refused(write_lora(dir, "loha.safetensors", {{q + ".hada_w1_a", {2, 32}}}), "LoHa");
  expect_refused(write_lora(dir, "plain.safetensors", {{"conv_in.weight", {2, 2}}}), "not a LoRA file");
  expect_refused(write_lora(dir, "te2.safetensors",
                            {{"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {2, 32}},
                             {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", {37, 2}}}),
                 "has no text_encoder_2");
  expect_refused(dir / "missing.safetensors", "missing.safetensors");
  expect_refused(dir / "model.ckpt", ".safetensors only");

  WeightSet w = WeightSet::load(kModel);
  std::string mixed = write_lora(dir, "mixed.safetensors",
                                 {{q + ".lora_down.weight", {2, 32}}, {q + ".lora_up.weight", {32, 2}},
                                  {"lora_unet_nothing.lora_down.weight", {2, 32}},
                                  {"lora_unet_nothing.lora_up.weight", {32, 2}}});
  auto applied = apply_loras(w, {{mixed, 1.0f}}, /*lenient=*/true);
  EXPECT_EQ(applied[0].layers, 1);
  ASSERT_EQ(applied[0].skipped.size(), 1u);
  EXPECT_NE(applied[0].skipped[0].find("nothing"), std::string::npos);
}

}  // namespace
