#include "model/clip_config.h"

#include <cmath>

#include "core/error.h"
#include "core/json.h"

namespace sdvk {

namespace {

struct TowerShape {
  int64_t width, intermediate, layers;
};

TowerShape read_tower(const ConfigView& c) {
  TowerShape t{c.integer("hidden_size", 1, 1 << 16), c.integer("intermediate_size", 1, 1 << 18),
               c.integer("num_hidden_layers", 1, 256)};
  int64_t heads = c.integer("num_attention_heads", 1, 4096);
  if (t.width % heads)
    c.fail("num_attention_heads", std::to_string(heads) + " heads do not divide width " + std::to_string(t.width));
  std::string act = c.string("hidden_act");
  if (act != "quick_gelu" && act != "gelu") c.fail("hidden_act", "'" + printable(act) + "' is not supported");
  c.number("layer_norm_eps");
  return t;
}

// The encoder layers shared by both towers.
void add_encoder(TensorSpecs& s, const std::string& p, const TowerShape& t) {
  int64_t w = t.width;
  for (int64_t i = 0; i < t.layers; i++) {
    std::string l = p + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"q_proj.", "k_proj.", "v_proj.", "out_proj."})
      add_weight_bias(s, l + "self_attn." + n, {w, w}, w);
    add_weight_bias(s, l + "layer_norm1.", {w}, w);
    add_weight_bias(s, l + "layer_norm2.", {w}, w);
    add_weight_bias(s, l + "mlp.fc1.", {t.intermediate, w}, t.intermediate);
    add_weight_bias(s, l + "mlp.fc2.", {w, t.intermediate}, w);
  }
}

TensorSpecs vision_specs(const nlohmann::json& config, const std::string& where) {
  ConfigView c(config, where);
  TowerShape t = read_tower(c);
  int64_t image = c.integer("image_size", 1, 1 << 14), patch = c.integer("patch_size", 1, 1 << 14);
  int64_t channels = c.integer("num_channels", 1, 64);
  if (image % patch)
    c.fail("patch_size", std::to_string(patch) + " does not divide image_size " + std::to_string(image));
  int64_t w = t.width, grid = image / patch;
  TensorSpecs s;
  s["vision_model.embeddings.class_embedding"] = {w};
  s["vision_model.embeddings.patch_embedding.weight"] = {w, channels, patch, patch};
  s["vision_model.embeddings.position_embedding.weight"] = {grid * grid + 1, w};
  add_weight_bias(s, "vision_model.pre_layrnorm.", {w}, w);  // sic: transformers' spelling
  add_encoder(s, "vision_model.", t);
  add_weight_bias(s, "vision_model.post_layernorm.", {w}, w);
  return s;
}

// Width, MLP width and layer count of a tower from its tensors.
void infer_tower(const TensorMap& t, const std::string& p, const std::string& where, nlohmann::json& cfg,
                 std::vector<std::string>* assumptions, const std::string& tower) {
  int64_t layers = 0;
  while (layers < 256 && t.count(p + "encoder.layers." + std::to_string(layers) + ".mlp.fc1.weight")) layers++;
  if (layers == 0)
    throw Error(where + ": cannot read the CLIP layout: tensor '" + p + "encoder.layers.0.mlp.fc1.weight' missing");
  const TensorInfo& fc1 = read_layout_tensor(t, p + "encoder.layers.0.mlp.fc1.weight", where, 2, "CLIP");
  int64_t width = fc1.shape[1];
  cfg["hidden_size"] = width;
  cfg["intermediate_size"] = fc1.shape[0];
  cfg["num_hidden_layers"] = layers;
  cfg["num_attention_heads"] = std::max<int64_t>(1, width / 64);
  assumptions->push_back(tower + " num_attention_heads " + std::to_string(std::max<int64_t>(1, width / 64)) +
                         " (heads are not stored in the file; width / 64 as in CLIP ViT-L/14 and OpenCLIP ViT-H/14)");
}

}  // namespace

nlohmann::json clip_text_default_config() {
  return {{"vocab_size", 49408},           {"hidden_size", 512},
          {"intermediate_size", 2048},     {"projection_dim", 512},
          {"num_hidden_layers", 12},       {"num_attention_heads", 8},
          {"max_position_embeddings", 77}, {"hidden_act", "quick_gelu"},
          {"layer_norm_eps", 1e-5},        {"pad_token_id", 1},
          {"bos_token_id", 49406},         {"eos_token_id", 49407}};
}

nlohmann::json clip_vision_default_config() {
  return {{"hidden_size", 768},         {"intermediate_size", 3072}, {"projection_dim", 512}, {"num_hidden_layers", 12},
          {"num_attention_heads", 12},  {"num_channels", 3},         {"image_size", 224},     {"patch_size", 32},
          {"hidden_act", "quick_gelu"}, {"layer_norm_eps", 1e-5}};
}

nlohmann::json clip_model_default_config() {
  return {{"text_config", clip_text_default_config()},
          {"vision_config", clip_vision_default_config()},
          {"projection_dim", 512},
          {"logit_scale_init_value", 2.6592}};
}

TensorSpecs clip_text_tensor_specs(const nlohmann::json& config, const std::string& where, bool with_projection) {
  ConfigView c(config, where);
  TowerShape t = read_tower(c);
  int64_t vocab = c.integer("vocab_size", 1, 1 << 24), positions = c.integer("max_position_embeddings", 1, 1 << 16);
  TensorSpecs s;
  s["text_model.embeddings.token_embedding.weight"] = {vocab, t.width};
  s["text_model.embeddings.position_embedding.weight"] = {positions, t.width};
  add_encoder(s, "text_model.", t);
  add_weight_bias(s, "text_model.final_layer_norm.", {t.width}, t.width);
  if (with_projection) s["text_projection.weight"] = {c.integer("projection_dim", 1, 1 << 16), t.width};
  return s;
}

TensorSpecs clip_model_tensor_specs(const nlohmann::json& config, const std::string& where) {
  ConfigView c(config, where);
  if (!config.contains("text_config") || !config.contains("vision_config"))
    c.fail("text_config", "and \"vision_config\" are both needed for a CLIPModel");
  int64_t proj = c.integer("projection_dim", 1, 1 << 16);
  TensorSpecs s = clip_text_tensor_specs(config["text_config"], where + " text_config", false);
  for (auto& [name, shape] : vision_specs(config["vision_config"], where + " vision_config")) s[name] = shape;
  s["text_projection.weight"] = {proj, ConfigView(config["text_config"], where).integer("hidden_size", 1, 1 << 16)};
  s["visual_projection.weight"] = {proj, ConfigView(config["vision_config"], where).integer("hidden_size", 1, 1 << 16)};
  s["logit_scale"] = {};
  return s;
}

nlohmann::json infer_clip_text_config(const TensorMap& t, const std::string& where, const std::string& hidden_act,
                                      std::vector<std::string>* assumptions, const std::string& label) {
  nlohmann::json cfg = clip_text_default_config();
  const TensorInfo& tokens = read_layout_tensor(t, "text_model.embeddings.token_embedding.weight", where, 2, "CLIP");
  cfg["vocab_size"] = tokens.shape[0];
  cfg["max_position_embeddings"] =
      read_layout_tensor(t, "text_model.embeddings.position_embedding.weight", where, 2, "CLIP").shape[0];
  infer_tower(t, "text_model.", where, cfg, assumptions, label);
  cfg["hidden_act"] = hidden_act;
  auto proj = t.find("text_projection.weight");
  if (proj != t.end() && proj->second.shape.size() == 2) cfg["projection_dim"] = proj->second.shape[0];
  return cfg;
}

nlohmann::json infer_clip_model_config(const TensorMap& t, const std::string& where,
                                       std::vector<std::string>* assumptions) {
  nlohmann::json cfg = clip_model_default_config();
  cfg["text_config"] = infer_clip_text_config(t, where, "quick_gelu", assumptions, "clip text");
  nlohmann::json& v = cfg["vision_config"];
  infer_tower(t, "vision_model.", where, v, assumptions, "clip vision");
  const TensorInfo& patch = read_layout_tensor(t, "vision_model.embeddings.patch_embedding.weight", where, 4, "CLIP");
  int64_t positions =
      read_layout_tensor(t, "vision_model.embeddings.position_embedding.weight", where, 2, "CLIP").shape[0];
  auto grid = int64_t(std::llround(std::sqrt(double(std::max<int64_t>(positions - 1, 0)))));
  v["num_channels"] = patch.shape[1];
  v["patch_size"] = patch.shape[2];
  v["image_size"] = grid * patch.shape[2];
  int64_t proj = read_layout_tensor(t, "visual_projection.weight", where, 2, "CLIP").shape[0];
  cfg["projection_dim"] = proj;
  cfg["text_config"]["projection_dim"] = proj;
  v["projection_dim"] = proj;
  return cfg;
}

}  // namespace sdvk
