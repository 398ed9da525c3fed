// WeightSet: the tiny SD pipeline as a diffusers folder and as one original-layout checkpoint
// must give the same tensors under the same names with the same configs; the component folders
// load; the other layouts in the wild (LDM VAE attention as 1x1 convs, OpenCLIP's fused
// projections, legacy diffusers names, fp16 variants) map to the same names; and broken or
// mismatched files are refused with the tensor named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/json.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/unet_config.h"
#include "model/weights.h"

using namespace sdvk;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kData = SDVK_TEST_DATA;
const std::string kPipeline = kData + "/pipeline/tiny-sd";
const std::string kSingleFile = kData + "/pipeline/tiny-sd.safetensors";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
  for (auto& l : lines)
    if (contains(l, part)) return true;
  return false;
}

// The one-line Error of loading `path`; fails the test when it loads.
std::string load_error(const std::string& path, const LoadOptions& options = {}) {
  try {
    WeightSet::load(path, options);
  } catch (const Error& e) {
    EXPECT_FALSE(contains(e.what(), "\n")) << e.what();
    return e.what();
  }
  ADD_FAILURE() << path << " loaded";
  return "";
}

// Same names, dtypes, shapes and bytes.
void expect_same_tensors(const Component& a, const Component& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size()) << a.name;
  for (auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    ASSERT_NE(it, b.tensors.end()) << a.name << ": " << name;
    const TensorInfo& u = it->second;
    EXPECT_EQ(t.dtype, u.dtype) << name;
    EXPECT_EQ(t.shape, u.shape) << name;
    ASSERT_EQ(t.size, u.size) << name;
    EXPECT_EQ(std::memcmp(t.data, u.data, t.size), 0) << name;
  }
}

void expect_same_config(const json& got, const json& want, const std::vector<std::string>& keys,
                        const std::string& what) {
  for (auto& k : keys) {
    ASSERT_TRUE(want.contains(k)) << what << ": reference lacks " << k;
    EXPECT_EQ(got.value(k, json()), want[k]) << what << ": " << k;
  }
}

const std::vector<std::string> kUnetKeys = {"in_channels",
                                            "out_channels",
                                            "block_out_channels",
                                            "layers_per_block",
                                            "down_block_types",
                                            "up_block_types",
                                            "mid_block_type",
                                            "cross_attention_dim",
                                            "attention_head_dim",
                                            "use_linear_projection",
                                            "transformer_layers_per_block",
                                            "norm_num_groups",
                                            "norm_eps",
                                            "conv_in_kernel",
                                            "conv_out_kernel",
                                            "upcast_attention",
                                            "flip_sin_to_cos",
                                            "freq_shift",
                                            "act_fn",
                                            "time_embedding_type",
                                            "only_cross_attention",
                                            "class_embed_type",
                                            "addition_embed_type",
                                            "num_attention_heads"};
const std::vector<std::string> kVaeKeys = {
    "in_channels",      "out_channels",   "block_out_channels", "layers_per_block", "latent_channels",
    "down_block_types", "up_block_types", "norm_num_groups",    "scaling_factor",   "act_fn"};
const std::vector<std::string> kTextKeys = {
    "hidden_size",  "intermediate_size", "num_hidden_layers", "max_position_embeddings",
    "vocab_size",   "hidden_act",        "layer_norm_eps",    "bos_token_id",
    "eos_token_id", "pad_token_id"};

class Weights : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sdvk_test_weights_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Copies every tensor of `src` to `dst` through `edit`, which may rename it (return the new
  // name), drop it (return "") or change its shape; then adds `extra`.
  static void rewrite(const std::string& src, const std::string& dst,
                      const std::function<std::string(const TensorInfo&, std::vector<int64_t>*)>& edit,
                      std::vector<TensorToWrite> extra = {}) {
    SafetensorsFile in(src);
    std::vector<TensorToWrite> out;
    for (auto& t : in.tensors()) {
      std::vector<int64_t> shape = t.shape;
      std::string name = edit(t, &shape);
      if (!name.empty()) out.push_back({name, t.dtype, shape, t.data, t.size});
    }
    for (auto& e : extra) out.push_back(e);
    write_safetensors(dst, out);
  }

  // A component folder: the given config and a link to an existing weights file.
  std::string component_folder(const std::string& name, const json& config, const std::string& weights,
                               const std::string& link_name) {
    fs::path d = dir_ / name;
    fs::create_directories(d);
    std::ofstream(d / "config.json") << config.dump(2);
    if (!weights.empty()) fs::create_symlink(weights, d / link_name);
    return d.string();
  }

  fs::path dir_;
};

std::string replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST_F(Weights, FolderAndSingleFileGiveTheSameTensors) {
  WeightSet folder = WeightSet::load(kPipeline);
  WeightSet single = WeightSet::load(kSingleFile);
  EXPECT_EQ(folder.format(), WeightFormat::PipelineFolder);
  EXPECT_EQ(single.format(), WeightFormat::SingleFile);
  EXPECT_EQ(folder.family(), "SD 1.x");
  EXPECT_EQ(single.family(), "SD 1.x");
  EXPECT_EQ(folder.component("unet").tensors.size(), 494u);
  EXPECT_EQ(folder.component("vae").tensors.size(), 200u);
  EXPECT_EQ(folder.component("text_encoder").tensors.size(), 52u);
  for (const char* name : {"unet", "vae", "text_encoder"})
    expect_same_tensors(folder.component(name), single.component(name));
  EXPECT_TRUE(folder.warnings().empty()) << folder.warnings()[0];
  EXPECT_TRUE(single.warnings().empty()) << single.warnings()[0];
  // position_ids is a buffer in both (I64 in the folder, F16 in the checkpoint), not a weight.
  EXPECT_TRUE(any_contains(folder.ignored(), "position_ids"));
  EXPECT_TRUE(any_contains(single.ignored(), "cond_stage_model.transformer.text_model.embeddings.position_ids"));
  // The renamed tensors still point into the checkpoint, under their original names.
  const TensorInfo& q = single.component("vae").tensor("decoder.mid_block.attentions.0.to_q.weight");
  EXPECT_EQ(q.name, "first_stage_model.decoder.mid.attn_1.to_q.weight");
  EXPECT_EQ(single.component("unet").tensor("up_blocks.1.upsamplers.0.conv.weight").name,
            "model.diffusion_model.output_blocks.5.2.conv.weight");
  EXPECT_EQ(single.component("vae").tensor("decoder.up_blocks.2.resnets.0.conv_shortcut.weight").name,
            "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight");
  EXPECT_EQ(folder.tokenizer_dir(), kPipeline + "/tokenizer");
  EXPECT_EQ(folder.scheduler_config()["_class_name"], "PNDMScheduler");
  EXPECT_THROW(folder.component("clip"), Error);
  EXPECT_THROW(folder.component("unet").tensor("no.such.tensor"), Error);
}

TEST_F(Weights, InferredConfigsMatchTheFolderConfigs) {
  WeightSet folder = WeightSet::load(kPipeline);
  WeightSet single = WeightSet::load(kSingleFile);
  json unet_file = read_json_file(kPipeline + "/unet/config.json");
  json vae_file = read_json_file(kPipeline + "/vae/config.json");
  json text_file = read_json_file(kPipeline + "/text_encoder/config.json");
  expect_same_config(single.component("unet").config, unet_file, kUnetKeys, "unet");
  expect_same_config(single.component("vae").config, vae_file, kVaeKeys, "vae");
  expect_same_config(single.component("text_encoder").config, text_file, kTextKeys, "text_encoder");
  expect_same_config(folder.component("unet").config, unet_file, kUnetKeys, "folder unet");
  EXPECT_TRUE(single.component("unet").config_inferred);
  EXPECT_FALSE(folder.component("unet").config_inferred);
  // The scheduler diffusers' single-file loader builds is the folder's (plus an explicit epsilon).
  json sched_file = read_json_file(kPipeline + "/scheduler/scheduler_config.json");
  for (auto& [k, v] : sched_file.items()) EXPECT_EQ(single.scheduler_config()[k], v) << k;
  EXPECT_EQ(single.scheduler_config()["prediction_type"], "epsilon");

  // No shape holds the text encoder's head count: the convention (64-wide heads) gives 1 for
  // this 64-wide model, whose folder says 4. It is listed, and an override settles it.
  EXPECT_EQ(single.component("text_encoder").config["num_attention_heads"], 1);
  EXPECT_EQ(text_file["num_attention_heads"], 4);
  EXPECT_TRUE(any_contains(single.assumptions(), "text_encoder num_attention_heads 1"));
  LoadOptions options;
  options.config_overrides = {{"text_encoder", {{"num_attention_heads", 4}}}};
  WeightSet fixed = WeightSet::load(kSingleFile, options);
  expect_same_config(fixed.component("text_encoder").config, text_file, kTextKeys, "text_encoder");
  EXPECT_EQ(fixed.component("text_encoder").config["num_attention_heads"], 4);
  options.config_overrides = {{"textencoder", {{"num_attention_heads", 4}}}};
  EXPECT_TRUE(contains(load_error(kSingleFile, options), "config override 'textencoder'"));
}

TEST_F(Weights, OriginalLayoutVariantsMapToTheSameNames) {
  // What CompVis' own code saves: VAE attention as 1x1 convs named q / k / v / proj_out,
  // decoder levels numbered from 0, and (older transformers) no "text_model." level.
  std::string p = path("ldm.safetensors");
  rewrite(kSingleFile, p, [](const TensorInfo& t, std::vector<int64_t>* shape) {
    std::string n = t.name;
    for (auto [from, to] : {std::pair{"attn_1.to_q.", "attn_1.q."},
                            {"attn_1.to_k.", "attn_1.k."},
                            {"attn_1.to_v.", "attn_1.v."},
                            {"attn_1.to_out.0.", "attn_1.proj_out."}})
      if (contains(n, from)) {
        n = replace(n, from, to);
        if (shape->size() == 2) *shape = {(*shape)[0], (*shape)[1], 1, 1};
      }
    for (int k = 1; k <= 3; k++)
      n = replace(n, "decoder.up." + std::to_string(k) + ".", "decoder.up." + std::to_string(k - 1) + ".");
    return replace(n, "cond_stage_model.transformer.text_model.", "cond_stage_model.transformer.");
  });
  WeightSet ldm = WeightSet::load(p);
  WeightSet folder = WeightSet::load(kPipeline);
  for (const char* name : {"unet", "vae", "text_encoder"})
    expect_same_tensors(folder.component(name), ldm.component(name));
  EXPECT_EQ(ldm.component("vae").tensor("encoder.mid_block.attentions.0.to_out.0.weight").shape,
            (std::vector<int64_t>{64, 64}));
  EXPECT_TRUE(ldm.warnings().empty());
}

TEST_F(Weights, OpenClipTextEncoderIsSplitAndTrimmed) {
  // An SD 2.x-style checkpoint: the tiny UNet and VAE with the text encoder in OpenCLIP layout
  // (fused q/k/v, one more layer than diffusers keeps, a projection).
  WeightSet folder = WeightSet::load(kPipeline);
  const Component& te = folder.component("text_encoder");
  std::vector<std::vector<uint8_t>> keep;  // fused tensors built here
  std::vector<TensorToWrite> extra;
  auto add = [&](const std::string& name, const TensorInfo& t) {
    extra.push_back({"cond_stage_model.model." + name, t.dtype, t.shape, t.data, t.size});
  };
  auto fuse = [&](const std::string& name, const std::string& layer, const char* kind) {
    std::vector<uint8_t> bytes;
    std::vector<int64_t> shape;
    for (const char* p : {"q_proj.", "k_proj.", "v_proj."}) {
      const TensorInfo& t = te.tensor(layer + "self_attn." + p + kind);
      bytes.insert(bytes.end(), t.data, t.data + t.size);
      shape = t.shape;
    }
    shape[0] *= 3;
    keep.push_back(std::move(bytes));
    extra.push_back({"cond_stage_model.model." + name, FileDType::F16, shape, keep.back().data(), keep.back().size()});
  };
  add("positional_embedding", te.tensor("text_model.embeddings.position_embedding.weight"));
  add("token_embedding.weight", te.tensor("text_model.embeddings.token_embedding.weight"));
  add("ln_final.weight", te.tensor("text_model.final_layer_norm.weight"));
  add("ln_final.bias", te.tensor("text_model.final_layer_norm.bias"));
  keep.reserve(16);
  for (int i = 0; i <= 3; i++) {  // resblocks.3 repeats layer 0: the last layer, which diffusers drops
    std::string layer = "text_model.encoder.layers." + std::to_string(i % 3) + ".";
    std::string block = "transformer.resblocks." + std::to_string(i) + ".";
    for (const char* w : {"weight", "bias"}) {
      add(block + "ln_1." + w, te.tensor(layer + "layer_norm1." + w));
      add(block + "ln_2." + w, te.tensor(layer + "layer_norm2." + w));
      add(block + "mlp.c_fc." + w, te.tensor(layer + "mlp.fc1." + w));
      add(block + "mlp.c_proj." + w, te.tensor(layer + "mlp.fc2." + w));
      add(block + "attn.out_proj." + w, te.tensor(layer + "self_attn.out_proj." + w));
    }
    fuse(block + "attn.in_proj_weight", layer, "weight");
    fuse(block + "attn.in_proj_bias", layer, "bias");
  }
  std::vector<uint16_t> projection(64 * 32, 0x3c00), scale(1, 0x4000);
  extra.push_back(
      {"cond_stage_model.model.text_projection", FileDType::F16, {64, 32}, projection.data(), projection.size() * 2});
  extra.push_back({"cond_stage_model.model.logit_scale", FileDType::F16, {}, scale.data(), 2});
  std::string p = path("sd2.safetensors");
  rewrite(
      kSingleFile, p,
      [](const TensorInfo& t, std::vector<int64_t>*) {
        return t.name.rfind("cond_stage_model.", 0) == 0 ? std::string() : t.name;
      },
      extra);

  WeightSet sd2 = WeightSet::load(p);
  EXPECT_EQ(sd2.family(), "SD 2.x");
  expect_same_tensors(te, sd2.component("text_encoder"));
  const json& cfg = sd2.component("text_encoder").config;
  EXPECT_EQ(cfg["num_hidden_layers"], 3);
  EXPECT_EQ(cfg["hidden_act"], "gelu");
  EXPECT_EQ(cfg["pad_token_id"], 0);
  EXPECT_EQ(cfg["projection_dim"], 32);
  EXPECT_TRUE(any_contains(sd2.ignored(), "cond_stage_model.model.transformer.resblocks.3.attn.in_proj_weight"));
  EXPECT_TRUE(any_contains(sd2.ignored(), "cond_stage_model.model.text_projection"));
  EXPECT_EQ(sd2.scheduler_config()["prediction_type"], "v_prediction");
  EXPECT_TRUE(sd2.warnings().empty()) << sd2.warnings()[0];
  // q is the first third of the fused rows, v the last.
  const TensorInfo& v = sd2.component("text_encoder").tensor("text_model.encoder.layers.2.self_attn.v_proj.weight");
  EXPECT_EQ(v.name, "cond_stage_model.model.transformer.resblocks.2.attn.in_proj_weight");
  EXPECT_EQ(v.shape, (std::vector<int64_t>{64, 64}));
}

TEST_F(Weights, ComponentFoldersLoad) {
  WeightSet sd1 = WeightSet::load(kData + "/unet_sd1_tiny");
  EXPECT_EQ(sd1.format(), WeightFormat::ComponentFolder);
  EXPECT_EQ(sd1.family(), "UNet");
  const Component& u1 = sd1.component("unet");
  EXPECT_EQ(u1.config["norm_num_groups"], 16);
  EXPECT_EQ(u1.tensors.size(), 494u);
  EXPECT_EQ(u1.tensor("conv_in.weight").dtype, FileDType::F32);
  EXPECT_EQ(u1.parameters(), 2199268u);
  EXPECT_TRUE(sd1.warnings().empty());

  WeightSet sd2 = WeightSet::load(kData + "/unet_sd2_tiny");
  const Component& u2 = sd2.component("unet");
  EXPECT_EQ(u2.config["use_linear_projection"], true);
  EXPECT_EQ(u2.config["upcast_attention"], true);
  EXPECT_EQ(u2.config["attention_head_dim"], json({2, 4, 4}));
  EXPECT_EQ(u2.tensor("mid_block.attentions.0.proj_in.weight").shape, (std::vector<int64_t>{64, 64}));
  // Read off the shapes, the layout matches config.json; the head counts do not (not in any shape).
  std::vector<std::string> assumptions;
  json inferred = infer_unet_config(u2.tensors, "unet_sd2_tiny", &assumptions);
  std::vector<std::string> shape_keys(kUnetKeys.begin(), kUnetKeys.begin() + 11);
  shape_keys.erase(std::find(shape_keys.begin(), shape_keys.end(), "attention_head_dim"));
  expect_same_config(inferred, u2.config, shape_keys, "unet_sd2_tiny inferred");
  EXPECT_EQ(inferred["attention_head_dim"], json({1, 1, 1}));

  WeightSet vae = WeightSet::load(kData + "/vae_tiny");
  const TensorInfo& bias = vae.component("vae").tensor("decoder.conv_in.bias");
  EXPECT_EQ(bias.dtype, FileDType::BF16);
  uint16_t first;
  std::memcpy(&first, bias.data, 2);
  EXPECT_EQ(to_f32(bias)[0], bf16_to_float(first));
  EXPECT_EQ(vae.component("vae").config["norm_num_groups"], 16);

  WeightSet clip = WeightSet::load(kData + "/clip_tiny");
  EXPECT_EQ(clip.family(), "CLIP");
  const Component& c = clip.component("clip");
  EXPECT_EQ(c.kind, ComponentKind::CLIP);
  EXPECT_EQ(c.tensor("text_projection.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(c.tensor("vision_model.embeddings.position_embedding.weight").shape, (std::vector<int64_t>{17, 64}));
  EXPECT_EQ(c.tensor("logit_scale").numel(), 1);
  EXPECT_EQ(c.config["vision_config"]["patch_size"], 8);
  EXPECT_TRUE(clip.warnings().empty());

  // The same networks as single files (no config): their shape-determined values match.
  WeightSet clip_file = WeightSet::load(kData + "/clip_tiny/model.safetensors");
  expect_same_tensors(c, clip_file.component("clip"));
  EXPECT_EQ(clip_file.component("clip").config["vision_config"]["image_size"], 32);
  WeightSet vae_file = WeightSet::load(kData + "/vae_tiny/diffusion_pytorch_model.safetensors");
  expect_same_config(vae_file.component("vae").config, vae.component("vae").config,
                     {"block_out_channels", "layers_per_block", "latent_channels", "in_channels", "out_channels"},
                     "vae file");
}

TEST_F(Weights, MissingAndMisshapenTensorsAreErrors) {
  std::string missing = path("missing.safetensors");
  rewrite(kSingleFile, missing, [](const TensorInfo& t, std::vector<int64_t>*) {
    return contains(t.name, "input_blocks.4.1.transformer_blocks.0.attn2.to_k.") ? std::string() : t.name;
  });
  std::string msg = load_error(missing);
  EXPECT_TRUE(contains(
      msg,
      missing +
          ": unet: 1 tensor missing: 'down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight' [64, 64]"))
      << msg;

  std::string misshapen = path("misshapen.safetensors");
  rewrite(kSingleFile, misshapen, [](const TensorInfo& t, std::vector<int64_t>* shape) {
    if (t.name == "model.diffusion_model.input_blocks.1.1.proj_in.weight") shape->resize(2);
    return t.name;
  });
  msg = load_error(misshapen);
  EXPECT_TRUE(contains(msg,
                       "tensor 'down_blocks.0.attentions.0.proj_in.weight' (in the file: "
                       "'model.diffusion_model.input_blocks.1.1.proj_in.weight') has shape [32, 32], expected "
                       "[32, 32, 1, 1]"))
      << msg;

  // Shapes that are valid safetensors but no network: a zero dimension lets another be huge.
  std::vector<uint16_t> none;
  std::string absurd = path("absurd.safetensors");
  write_safetensors(absurd, {{"conv_in.weight", FileDType::F16, {int64_t(1) << 40, 0, 3, 3}, none.data(), 0},
                             {"time_embedding.linear_1.weight", FileDType::F16, {0, 4}, none.data(), 0},
                             {"conv_out.weight", FileDType::F16, {0, 4, 3, 3}, none.data(), 0}});
  EXPECT_TRUE(contains(load_error(absurd),
                       "cannot read the UNet layout: tensor 'conv_in.weight' has shape [1099511627776, "
                       "0, 3, 3], expected 4 dimensions from 1 to 2^24"));

  // A config that disagrees with its weights.
  json config = read_json_file(kData + "/unet_sd1_tiny/config.json");
  config["cross_attention_dim"] = 768;
  std::string folder = component_folder("unet768", config, kData + "/unet_sd1_tiny/diffusion_pytorch_model.safetensors",
                                        "diffusion_pytorch_model.safetensors");
  msg = load_error(folder);
  EXPECT_TRUE(contains(msg, "attn2.to_k.weight' has shape [32, 64], expected [32, 768]")) << msg;

  config["layers_per_block"] = "two";
  folder = component_folder("unet_bad", config, kData + "/unet_sd1_tiny/diffusion_pytorch_model.safetensors",
                            "diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(contains(load_error(folder), "config.json: \"layers_per_block\" must be an integer, found a string"));
  config["layers_per_block"] = 2;
  config["class_embed_type"] = "timestep";
  folder = component_folder("unet_class", config, kData + "/unet_sd1_tiny/diffusion_pytorch_model.safetensors",
                            "diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(contains(load_error(folder), "\"class_embed_type\" is \"timestep\": not supported"));
}

TEST_F(Weights, UnexpectedTensorsAreWarnedAboutAndKnownExtrasIgnored) {
  std::vector<uint16_t> two = {0x3c00, 0x3c00};
  std::string p = path("extras.safetensors");
  rewrite(kSingleFile, p, [](const TensorInfo& t, std::vector<int64_t>*) { return t.name; },
          {{"model.diffusion_model.extra.weight", FileDType::F16, {2}, two.data(), 4},
           {"lora_unet_down.alpha", FileDType::F16, {2}, two.data(), 4},
           {"model_ema.decay", FileDType::F16, {}, two.data(), 2},
           {"alphas_cumprod", FileDType::F16, {2}, two.data(), 4}});
  WeightSet w = WeightSet::load(p);
  EXPECT_EQ(w.warnings().size(), 2u);
  EXPECT_TRUE(any_contains(w.warnings(), "unexpected tensor 'model.diffusion_model.extra.weight' ignored"));
  EXPECT_TRUE(any_contains(w.warnings(), "unexpected tensor 'lora_unet_down.alpha' ignored"));
  EXPECT_TRUE(any_contains(w.ignored(), "model_ema.decay"));
  EXPECT_TRUE(any_contains(w.ignored(), "alphas_cumprod"));
}

TEST_F(Weights, FolderVariantsAndRefusals) {
  json config = read_json_file(kData + "/vae_tiny/config.json");
  std::string weights = kData + "/vae_tiny/diffusion_pytorch_model.safetensors";
  std::string only_fp16 = component_folder("fp16", config, weights, "diffusion_pytorch_model.fp16.safetensors");
  EXPECT_TRUE(contains(WeightSet::load(only_fp16).component("vae").source, "diffusion_pytorch_model.fp16.safetensors"));
  fs::create_symlink(weights, fs::path(only_fp16) / "diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(contains(WeightSet::load(only_fp16).component("vae").source, "/diffusion_pytorch_model.safetensors"));
  LoadOptions fp16;
  fp16.variant = "fp16";
  EXPECT_TRUE(contains(WeightSet::load(only_fp16, fp16).component("vae").source, "fp16.safetensors"));

  std::string pickled = component_folder("pickled", config, "", "");
  std::ofstream(fs::path(pickled) / "diffusion_pytorch_model.bin") << "PK\x03\x04";
  EXPECT_TRUE(contains(load_error(pickled), "diffusion_pytorch_model.bin: PyTorch pickle checkpoint refused"));
  std::string empty = component_folder("empty", config, "", "");
  EXPECT_TRUE(contains(load_error(empty), "no weights (model.safetensors or diffusion_pytorch_model.safetensors)"));

  // diffusers < 0.14 names for the VAE mid-block attention.
  std::string legacy = component_folder("legacy", config, "", "");
  rewrite(weights, legacy + "/diffusion_pytorch_model.safetensors", [](const TensorInfo& t, std::vector<int64_t>*) {
    std::string n = replace(t.name, "attentions.0.to_q.", "attentions.0.query.");
    n = replace(n, "attentions.0.to_k.", "attentions.0.key.");
    n = replace(n, "attentions.0.to_v.", "attentions.0.value.");
    return replace(n, "attentions.0.to_out.0.", "attentions.0.proj_attn.");
  });
  expect_same_tensors(WeightSet::load(kData + "/vae_tiny").component("vae"), WeightSet::load(legacy).component("vae"));

  // Pipelines: a listed component without its folder; SDXL parts under the wrong class; a
  // refiner; SD 3.
  fs::path pipe = dir_ / "pipe";
  fs::create_directories(pipe);
  json index = read_json_file(kPipeline + "/model_index.json");
  std::ofstream(pipe / "model_index.json") << index.dump();
  EXPECT_TRUE(contains(load_error(pipe.string()), "lists text_encoder but there is no folder"));
  index["text_encoder_2"] = {"transformers", "CLIPTextModelWithProjection"};
  std::ofstream(pipe / "model_index.json") << index.dump();
  EXPECT_TRUE(contains(load_error(pipe.string()), "lists text_encoder_2 but names the pipeline StableDiffusionPipeline"));
  index["_class_name"] = "StableDiffusionXLImg2ImgPipeline";
  index["text_encoder"] = {nullptr, nullptr};
  std::ofstream(pipe / "model_index.json") << index.dump();
  EXPECT_TRUE(contains(load_error(pipe.string()), "an SDXL refiner (no text_encoder, only text_encoder_2): not supported"));
  index["_class_name"] = "StableDiffusion3Pipeline";
  std::ofstream(pipe / "model_index.json") << index.dump();
  EXPECT_TRUE(contains(load_error(pipe.string()), "SD 3 and Flux are a different architecture, out of scope"));

  EXPECT_TRUE(contains(load_error(path("nothing")), "no such file or directory"));
  EXPECT_TRUE(contains(load_error(kPipeline + "/tokenizer"), "not a diffusers pipeline (no model_index.json)"));
  std::vector<float> x = {1, 2};
  write_safetensors(path("plain.safetensors"), {{"latent", FileDType::F32, {2}, x.data(), 8}});
  EXPECT_TRUE(contains(load_error(path("plain.safetensors")),
                       "no Stable Diffusion, UNet, VAE or CLIP tensor names recognised (1 tensors, first 'latent')"));
  // Single files of other architectures are named.
  for (auto [name, message] : std::vector<std::pair<std::string, std::string>>{
           {"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", "an SD 3 checkpoint (joint_blocks)"},
           {"double_blocks.0.img_attn.qkv.weight", "a Flux checkpoint"},
           {"conditioner.embedders.0.model.ln_final.weight", "an SDXL refiner (OpenCLIP is its only text encoder)"}}) {
    write_safetensors(path("other.safetensors"), {{name, FileDType::F32, {2}, x.data(), 8}});
    EXPECT_TRUE(contains(load_error(path("other.safetensors")), message)) << name;
  }
}

}  // namespace
