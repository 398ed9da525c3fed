#include "model/weights.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "model/clip_config.h"
#include "model/name_mapping.h"
#include "model/tensor_convert.h"
#include "model/unet_config.h"
#include "model/vae_config.h"

namespace sdvk {

namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

nlohmann::json default_config(ComponentKind k) {
  switch (k) {
    case ComponentKind::UNet: return unet_default_config();
    case ComponentKind::VAE: return vae_default_config();
    case ComponentKind::CLIP: return clip_model_default_config();
    default: return clip_text_default_config();
  }
}

// The class a config.json describes, from diffusers' "_class_name" or transformers' "architectures"
// / "model_type".
ComponentKind kind_from_config(const nlohmann::json& cfg, const std::string& where) {
  std::string cls;
  if (cfg.contains("_class_name") && cfg["_class_name"].is_string())
    cls = cfg["_class_name"].get<std::string>();
  else if (cfg.contains("architectures") && cfg["architectures"].is_array() && !cfg["architectures"].empty() &&
           cfg["architectures"][0].is_string())
    cls = cfg["architectures"][0].get<std::string>();
  else if (cfg.contains("model_type") && cfg["model_type"] == "clip_text_model")
    cls = "CLIPTextModel";
  else if (cfg.contains("model_type") && cfg["model_type"] == "clip")
    cls = "CLIPModel";
  for (auto k : {ComponentKind::UNet, ComponentKind::VAE, ComponentKind::TextEncoder,
                 ComponentKind::TextEncoderWithProjection, ComponentKind::CLIP})
    if (cls == component_class_name(k)) return k;
  throw Error(where + ": model class '" + printable(cls) +
              "' is not supported (UNet2DConditionModel, AutoencoderKL, CLIPTextModel, CLIPTextModelWithProjection, "
              "CLIPModel)");
}

const char* default_name(ComponentKind k) {
  switch (k) {
    case ComponentKind::UNet: return "unet";
    case ComponentKind::VAE: return "vae";
    case ComponentKind::CLIP: return "clip";
    default: return "text_encoder";
  }
}

// The weights file of a component folder, as diffusers picks it.
fs::path find_weights_file(const fs::path& dir, const std::string& variant) {
  std::vector<std::string> plain = {"model.safetensors", "diffusion_pytorch_model.safetensors"};
  std::vector<std::string> fp16 = {"model.fp16.safetensors", "diffusion_pytorch_model.fp16.safetensors"};
  std::vector<std::string> order = plain;
  order.insert(variant == "fp16" ? order.begin() : order.end(), fp16.begin(), fp16.end());
  for (auto& n : order)
    if (is_file(dir / n)) return dir / n;
  for (const char* n : {"model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json"})
    if (is_file(dir / n)) throw Error((dir / n).string() + ": sharded weights are not supported yet");
  for (const char* n : {"pytorch_model.bin", "diffusion_pytorch_model.bin", "pytorch_model.fp16.bin",
                        "diffusion_pytorch_model.fp16.bin"})
    if (is_file(dir / n)) refuse_pickle_checkpoint((dir / n).string());
  throw Error(dir.string() + ": no weights (model.safetensors or diffusion_pytorch_model.safetensors)");
}

// Keys in original checkpoints that are not weights of any network: the DDPM noise schedule
// buffers the training code saved alongside.
bool is_schedule_buffer(const std::string& name) {
  static const char* kNames[] = {"alphas_cumprod",
                                 "alphas_cumprod_prev",
                                 "betas",
                                 "log_one_minus_alphas_cumprod",
                                 "posterior_log_variance_clipped",
                                 "posterior_mean_coef1",
                                 "posterior_mean_coef2",
                                 "posterior_variance",
                                 "sqrt_alphas_cumprod",
                                 "sqrt_one_minus_alphas_cumprod",
                                 "sqrt_recip_alphas_cumprod",
                                 "sqrt_recipm1_alphas_cumprod",
                                 "logvar"};
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

// What diffusers' single-file loader gives a checkpoint without a config: its default PNDM
// scheduler over the SD training schedule.
nlohmann::json checkpoint_scheduler_config(bool v_prediction) {
  return {{"_class_name", "PNDMScheduler"},
          {"num_train_timesteps", 1000},
          {"beta_start", 0.00085},
          {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"},
          {"steps_offset", 1},
          {"clip_sample", false},
          {"set_alpha_to_one", false},
          {"skip_prk_steps", true},
          {"prediction_type", v_prediction ? "v_prediction" : "epsilon"}};
}

// Keys any scheduler reads (scheduler/): a scheduler override may set one the file leaves out.
const std::vector<std::string> kSchedulerKeys = {
    "_class_name", "algorithm_type", "beta_end", "beta_schedule", "beta_start", "clip_sample", "clip_sample_range",
    "disable_corrector", "dynamic_thresholding_ratio", "interpolation_type", "lambda_min_clipped",
    "lower_order_final", "num_train_timesteps", "original_inference_steps", "prediction_type",
    "rescale_betas_zero_snr", "sample_max_value", "set_alpha_to_one", "skip_prk_steps", "solver_order",
    "solver_type", "steps_offset", "thresholding", "timestep_scaling", "timestep_spacing", "trained_betas",
    "use_karras_sigmas", "variance_type"};

// Overrides win over `config`, but only for keys it has: a misspelt key is an error, not a
// silent no-op. Objects (CLIP's text_config, vision_config) are checked key by key.
void apply_overrides(nlohmann::json& config, const nlohmann::json& overrides, const std::string& where,
                     const std::vector<std::string>& also_known = {}) {
  for (auto& [key, value] : overrides.items()) {
    bool known = config.contains(key) || std::find(also_known.begin(), also_known.end(), key) != also_known.end();
    if (!known) throw Error("config override " + where + "." + printable(key) + ": no such key in the " + where + " config");
    if (value.is_object() && config[key].is_object())
      apply_overrides(config[key], value, where + "." + key);
    else
      config[key] = value;
  }
}

// A name in model_index.json (a component, its library or class): never a path.
bool is_plain_name(const std::string& s) {
  if (s.empty() || s.find("..") != std::string::npos) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

// The pipelines whose networks this engine runs. Their parts are always this folder's unet/,
// vae/, text_encoder/ (and text_encoder_2/), tokenizer/ (tokenizer_2/) and scheduler/: entries
// name classes, and one that looks like a path is refused rather than ignored, so nothing
// outside the folder is ever named. Returns whether it is an SDXL pipeline.
bool check_model_index(const nlohmann::json& index, const std::string& where) {
  static const std::set<std::string> kSD = {"StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline"};
  static const std::set<std::string> kSDXL = {"StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline"};
  const auto cls = index.find("_class_name");
  std::string name = cls != index.end() && cls->is_string() ? cls->get<std::string>() : "";
  if (!kSD.count(name) && !kSDXL.count(name)) {
    const bool later = starts_with(name, "StableDiffusion3") || starts_with(name, "Flux");
    throw Error(where + ": _class_name '" + printable(cls == index.end() ? "" : cls->is_string() ? name : cls->dump()) +
                "' is not a supported pipeline (" +
                (later ? "SD 3 and Flux are a different architecture, out of scope; " : "") +
                "StableDiffusionPipeline, StableDiffusionXLPipeline and their Img2Img variants)");
  }
  for (auto& [key, value] : index.items()) {
    if (starts_with(key, "_")) continue;
    bool ok = is_plain_name(key);
    if (value.is_array())
      for (auto& part : value) ok = ok && (part.is_null() || (part.is_string() && is_plain_name(part.get<std::string>())));
    if (!ok) throw Error(where + ": entry '" + printable(key) + "': " + printable(value.dump()) + " is not a [library, class] pair of names");
  }
  const bool sdxl = kSDXL.count(name) > 0;
  auto listed = [&](const char* part) {
    return index.contains(part) && index[part].is_array() && index[part].size() == 2 && !index[part][1].is_null();
  };
  if (sdxl && !listed("text_encoder"))
    throw Error(where + ": an SDXL refiner (no text_encoder, only text_encoder_2): not supported (the base model is)");
  if (sdxl && !listed("text_encoder_2")) throw Error(where + ": an SDXL pipeline that lists no text_encoder_2");
  if (!sdxl && listed("text_encoder_2"))
    throw Error(where + ": lists text_encoder_2 but names the pipeline " + name + " (SDXL pipelines need it)");
  return sdxl;
}

}  // namespace

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::SingleFile: return "safetensors single file";
    case WeightFormat::PipelineFolder: return "diffusers pipeline folder";
    case WeightFormat::ComponentFolder: return "component folder";
  }
  return "?";
}

const char* component_class_name(ComponentKind k) {
  switch (k) {
    case ComponentKind::UNet: return "UNet2DConditionModel";
    case ComponentKind::VAE: return "AutoencoderKL";
    case ComponentKind::TextEncoder: return "CLIPTextModel";
    case ComponentKind::TextEncoderWithProjection: return "CLIPTextModelWithProjection";
    case ComponentKind::CLIP: return "CLIPModel";
  }
  return "?";
}

const TensorInfo& Component::tensor(const std::string& tensor_name) const {
  auto it = tensors.find(tensor_name);
  if (it == tensors.end()) throw Error(source + ": " + name + " has no tensor '" + printable(tensor_name) + "'");
  return it->second;
}

uint64_t Component::bytes() const {
  uint64_t n = 0;
  for (auto& [_, t] : tensors) n += t.size;
  return n;
}

uint64_t Component::parameters() const {
  uint64_t n = 0;
  for (auto& [_, t] : tensors) n += uint64_t(t.numel());
  return n;
}

const Component& WeightSet::component(const std::string& name) const {
  auto it = components_.find(name);
  if (it != components_.end()) return it->second;
  std::string have;
  for (auto& [n, _] : components_) have += (have.empty() ? "" : ", ") + n;
  throw Error(path_ + ": no " + name + " in this " + weight_format_name(format_) + " (it has: " + have + ")");
}

void WeightSet::replace_tensor(const std::string& component, const std::string& name,
                               std::shared_ptr<const std::vector<float>> values, const std::string& source) {
  Component& c = components_.at(this->component(component).name);
  auto it = c.tensors.find(name);
  if (it == c.tensors.end()) throw Error(path_ + ": " + component + " has no tensor " + name);
  TensorInfo& t = it->second;
  if (int64_t(values->size()) != t.numel())
    throw Error(source + ": " + std::to_string(values->size()) + " values for " + component + " " + name + " " +
                shape_string(t.shape));
  t.dtype = FileDType::F32;
  t.data = reinterpret_cast<const uint8_t*>(values->data());
  t.size = values->size() * sizeof(float);
  t.file += " + " + source;
  t.file_mapped = false;
  c.owned.push_back(std::move(values));
}

FileContent classify_safetensors(const SafetensorsFile& f) {
  bool sd = false, sdxl = false;
  for (auto& t : f.tensors()) {
    sd = sd || starts_with(t.name, "model.diffusion_model.");
    sdxl = sdxl || starts_with(t.name, "conditioner.embedders.");
  }
  if (sdxl) return FileContent::SDXLCheckpoint;
  if (sd) return FileContent::SDCheckpoint;
  auto has = [&](const char* n) { return f.find(n) != nullptr; };
  if (has("encoder.down.0.block.0.conv1.weight") || has("first_stage_model.encoder.down.0.block.0.conv1.weight"))
    return FileContent::LdmVAE;
  if (has("conv_in.weight") && has("time_embedding.linear_1.weight")) return FileContent::DiffusersUNet;
  if (has("encoder.conv_in.weight") && has("decoder.conv_in.weight")) return FileContent::DiffusersVAE;
  if (has("text_model.embeddings.token_embedding.weight"))
    return has("vision_model.embeddings.class_embedding") ? FileContent::CLIP : FileContent::CLIPText;
  return FileContent::Unknown;
}

WeightSet WeightSet::load(const std::string& path, const LoadOptions& options) {
  if (!options.config_overrides.is_object()) throw Error("config overrides must be a JSON object");
  for (auto& [name, value] : options.config_overrides.items())
    if (!value.is_object() ||
        (name != "unet" && name != "vae" && name != "text_encoder" && name != "text_encoder_2" && name != "clip" &&
         name != "scheduler"))
      throw Error("config override '" + printable(name) +
                  "': expected {\"unet\"|\"vae\"|\"text_encoder\"|\"text_encoder_2\"|\"clip\"|\"scheduler\": "
                  "{key: value}}");
  WeightSet w;
  w.path_ = path;
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw Error(path + ": no such file or directory");
  if (fs::is_directory(status)) {
    if (is_file(fs::path(path) / "model_index.json")) {
      w.format_ = WeightFormat::PipelineFolder;
      w.load_pipeline_folder(options);
    } else if (is_file(fs::path(path) / "config.json")) {
      w.format_ = WeightFormat::ComponentFolder;
      Component c = w.load_component_folder(path, "", options);
      static const std::map<ComponentKind, std::string> kFamily = {
          {ComponentKind::UNet, "UNet"},
          {ComponentKind::VAE, "VAE"},
          {ComponentKind::CLIP, "CLIP"},
          {ComponentKind::TextEncoder, "CLIP text encoder"},
          {ComponentKind::TextEncoderWithProjection, "CLIP text encoder"}};
      w.family_ = kFamily.at(c.kind);
      w.components_[c.name] = std::move(c);
    } else {
      throw Error(path + ": not a diffusers pipeline (no model_index.json) nor a model folder (no config.json)");
    }
  } else {
    w.format_ = WeightFormat::SingleFile;
    w.load_single_file(options);
  }
  for (auto& [name, value] : options.config_overrides.items()) {
    if (name != "scheduler" && !w.has(name))
      throw Error("config override " + name + ": " + path + " has no " + name + " (a " + weight_format_name(w.format_) + ")");
    if (name == "scheduler" && !w.scheduler_config_.is_object())
      throw Error("config override scheduler: " + path + " has no scheduler config");
    if (name == "scheduler") apply_overrides(w.scheduler_config_, value, "scheduler", kSchedulerKeys);
  }
  return w;
}

void WeightSet::finish_component(Component& c, const LoadOptions& options) {
  if (options.config_overrides.contains(c.name)) apply_overrides(c.config, options.config_overrides[c.name], c.name);
  std::string where =
      c.config_inferred ? c.source + ": " + c.name + " config (read off the tensor shapes)" : c.config_file;
  TensorSpecs specs;
  switch (c.kind) {
    case ComponentKind::UNet: specs = unet_tensor_specs(c.config, where); break;
    case ComponentKind::VAE: specs = vae_tensor_specs(c.config, where); break;
    case ComponentKind::TextEncoder: specs = clip_text_tensor_specs(c.config, where, false); break;
    case ComponentKind::TextEncoderWithProjection: specs = clip_text_tensor_specs(c.config, where, true); break;
    case ComponentKind::CLIP: specs = clip_model_tensor_specs(c.config, where); break;
  }
  check_tensors(c.source + ": " + c.name, c.tensors, specs, &warnings_);
}

Component WeightSet::load_component_folder(const std::string& dir, const std::string& name,
                                           const LoadOptions& options) {
  std::string config_path = (fs::path(dir) / "config.json").string();
  if (!is_file(config_path)) throw Error(dir + ": no config.json");
  nlohmann::json file_config = read_json_file(config_path);
  if (!file_config.is_object()) throw Error(config_path + ": not a JSON object");
  Component c;
  c.kind = kind_from_config(file_config, config_path);
  c.name = name.empty() ? default_name(c.kind) : name;
  c.config = default_config(c.kind);
  c.config.update(file_config, true);
  c.config_file = config_path;

  auto file = std::make_shared<const SafetensorsFile>(find_weights_file(dir, options.variant).string());
  files_.push_back(file);
  c.source = file->path();
  for (auto& t : file->tensors()) {
    if (t.name == "text_model.embeddings.position_ids")
      ignored_.push_back(c.name + ": " + t.name);  // a buffer
    else
      c.tensors[t.name] = t;
  }
  if (c.kind == ComponentKind::VAE) c.tensors = rename_legacy_vae_attention(std::move(c.tensors));
  finish_component(c, options);
  return c;
}

void WeightSet::load_pipeline_folder(const LoadOptions& options) {
  fs::path root(path_);
  nlohmann::json index = read_json_file((root / "model_index.json").string());
  std::string where = (root / "model_index.json").string();
  if (!index.is_object()) throw Error(where + ": not a JSON object");
  const bool sdxl = check_model_index(index, where);
  std::map<std::string, ComponentKind> networks = {
      {"unet", ComponentKind::UNet}, {"vae", ComponentKind::VAE}, {"text_encoder", ComponentKind::TextEncoder}};
  if (sdxl) networks["text_encoder_2"] = ComponentKind::TextEncoderWithProjection;
  for (auto& [name, kind] : networks) {
    if (!index.contains(name) || index[name].is_null() ||
        (index[name].is_array() && index[name].size() == 2 && index[name][1].is_null()))
      throw Error(where + ": lists no " + name);
    if (!is_dir(root / name))
      throw Error(where + ": lists " + name + " but there is no folder " + (root / name).string());
    Component c = load_component_folder((root / name).string(), name, options);
    bool fits =
        c.kind == kind || (kind == ComponentKind::TextEncoder && c.kind == ComponentKind::TextEncoderWithProjection);
    if (!fits)
      throw Error((root / name / "config.json").string() + ": a " + component_class_name(c.kind) +
                  " where the pipeline needs a " + component_class_name(kind));
    components_[name] = std::move(c);
  }
  for (auto& [name, value] : index.items()) {
    if (starts_with(name, "_") || networks.count(name) || name == "scheduler" || name == "tokenizer" ||
        (sdxl && name == "tokenizer_2") || name == "force_zeros_for_empty_prompt")
      continue;
    bool present = value.is_array() && value.size() == 2 && !value[1].is_null();
    if (present) warnings_.push_back(where + ": component '" + printable(name) + "' is not loaded");
  }
  if (is_file(root / "scheduler" / "scheduler_config.json")) {
    std::string sched = (root / "scheduler" / "scheduler_config.json").string();
    scheduler_config_ = read_json_file(sched);
    if (!scheduler_config_.is_object()) throw Error(sched + ": not a JSON object");
  } else
    warnings_.push_back(path_ + ": no scheduler/scheduler_config.json");

  if (is_dir(root / "tokenizer"))
    tokenizer_dir_ = (root / "tokenizer").string();
  else
    warnings_.push_back(path_ + ": no tokenizer/ folder");
  if (sdxl && is_dir(root / "tokenizer_2"))
    tokenizer_2_dir_ = (root / "tokenizer_2").string();
  else if (sdxl)
    warnings_.push_back(path_ + ": no tokenizer_2/ folder");
  if (sdxl) {
    family_ = "SDXL";
    // diffusers' StableDiffusionXLPipeline default: zero uncond embeddings without a negative prompt.
    const auto zeros = index.find("force_zeros_for_empty_prompt");
    force_zeros_for_empty_prompt_ = zeros == index.end() || !zeros->is_boolean() || zeros->get<bool>();
    return;
  }
  // OpenCLIP (SD 2.x) uses gelu, OpenAI CLIP (SD 1.x) quick_gelu.
  family_ = components_.at("text_encoder").config.value("hidden_act", "") == "gelu" ? "SD 2.x" : "SD 1.x";
}

void WeightSet::add_inferred(Component c, const LoadOptions& options) {
  c.source = path_;
  c.config_inferred = true;
  finish_component(c, options);
  components_[c.name] = std::move(c);
}

namespace {

// Checkpoints of architectures out of scope, named rather than failing on a missing tensor.
void refuse_other_architectures(const SafetensorsFile& file) {
  for (const TensorInfo& t : file.tensors()) {
    const std::string& n = t.name;
    if (n.find("joint_blocks.") != std::string::npos)
      throw Error(file.path() + ": an SD 3 checkpoint (joint_blocks): a different architecture, out of scope");
    if (n.find("double_blocks.") != std::string::npos || n.find("single_blocks.") != std::string::npos)
      throw Error(file.path() + ": a Flux checkpoint (double_blocks / single_blocks): a different architecture, "
                  "out of scope");
    if (starts_with(n, "conditioner.embedders.0.model."))
      throw Error(file.path() + ": an SDXL refiner (OpenCLIP is its only text encoder): not supported (the base "
                  "model is)");
  }
}

}  // namespace

void WeightSet::load_single_file(const LoadOptions& options) {
  refuse_pickle_checkpoint(path_);
  auto file = std::make_shared<const SafetensorsFile>(path_);
  files_.push_back(file);
  refuse_other_architectures(*file);
  const FileContent content = classify_safetensors(*file);
  switch (content) {
    case FileContent::Unknown: {
      std::string first = file->tensors().empty() ? "none" : "first '" + printable(file->tensors()[0].name) + "'";
      throw Error(path_ + ": no Stable Diffusion, UNet, VAE or CLIP tensor names recognised (" +
                  std::to_string(file->tensors().size()) + " tensors, " + first + ")");
    }
    case FileContent::DiffusersUNet:
    case FileContent::DiffusersVAE:
    case FileContent::CLIPText:
    case FileContent::CLIP:
      load_diffusers_network(*file, content, options);
      return;
    case FileContent::LdmVAE:
    case FileContent::SDCheckpoint:
    case FileContent::SDXLCheckpoint:
      load_sd_checkpoint(*file, content, options);
      return;
  }
}

// One network in diffusers / transformers naming: its tensors as they are, its config inferred.
void WeightSet::load_diffusers_network(const SafetensorsFile& file, FileContent content, const LoadOptions& options) {
  TensorMap t;
  for (auto& info : file.tensors()) t[info.name] = info;
  switch (content) {
    case FileContent::DiffusersUNet: {
      Component c{"unet", ComponentKind::UNet};
      c.tensors = std::move(t);
      c.config = infer_unet_config(c.tensors, path_, &assumptions_);
      add_inferred(std::move(c), options);
      family_ = "UNet";
      return;
    }
    case FileContent::DiffusersVAE: {
      Component c{"vae", ComponentKind::VAE};
      c.tensors = rename_legacy_vae_attention(std::move(t));
      c.config = infer_vae_config(c.tensors, path_, &assumptions_);
      add_inferred(std::move(c), options);
      family_ = "VAE";
      return;
    }
    case FileContent::CLIPText: {
      Component c{"text_encoder", t.count("text_projection.weight") ? ComponentKind::TextEncoderWithProjection
                                                                    : ComponentKind::TextEncoder};
      if (t.erase("text_model.embeddings.position_ids")) ignored_.push_back("text_model.embeddings.position_ids");
      c.tensors = std::move(t);
      c.config = infer_clip_text_config(c.tensors, path_, "quick_gelu", &assumptions_);
      assumptions_.push_back("text_encoder hidden_act quick_gelu (not stored in the file; OpenAI CLIP's)");
      add_inferred(std::move(c), options);
      family_ = "CLIP text encoder";
      return;
    }
    case FileContent::CLIP: {
      if (t.erase("text_model.embeddings.position_ids")) ignored_.push_back("text_model.embeddings.position_ids");
      if (t.erase("vision_model.embeddings.position_ids")) ignored_.push_back("vision_model.embeddings.position_ids");
      Component c{"clip", ComponentKind::CLIP};
      c.tensors = std::move(t);
      c.config = infer_clip_model_config(c.tensors, path_, &assumptions_);
      add_inferred(std::move(c), options);
      family_ = "CLIP";
      return;
    }
    default:
      throw Error(path_ + ": not a single network in diffusers naming");  // load_single_file routes only those here
  }
}

// An original Stable Diffusion (or SDXL) checkpoint, or a stand-alone VAE in its layout: split by
// prefix, rename each part, infer each config.
void WeightSet::load_sd_checkpoint(const SafetensorsFile& file, FileContent content, const LoadOptions& options) {
  TensorMap unet, vae, clip, open_clip;
  std::vector<std::string> unknown;
  const bool xl = content == FileContent::SDXLCheckpoint;
  const std::string kUnet = "model.diffusion_model.", kVae = "first_stage_model.",
                    kClip = xl ? "conditioner.embedders.0.transformer." : "cond_stage_model.transformer.",
                    kOpenClip = xl ? "conditioner.embedders.1.model." : "cond_stage_model.model.";
  bool vae_prefixed = false;
  for (auto& t : file.tensors()) vae_prefixed = vae_prefixed || starts_with(t.name, kVae);
  for (auto& t : file.tensors()) {
    const std::string& n = t.name;
    if (starts_with(n, kUnet))
      unet[n.substr(kUnet.size())] = t;
    else if (vae_prefixed && starts_with(n, kVae))
      vae[n.substr(kVae.size())] = t;
    else if (!vae_prefixed && content == FileContent::LdmVAE)
      vae[n] = t;
    else if (starts_with(n, kClip))
      clip[n.substr(kClip.size())] = t;
    else if (starts_with(n, kOpenClip))
      open_clip[n.substr(kOpenClip.size())] = t;
    else if (starts_with(n, "model_ema.") || is_schedule_buffer(n))
      ignored_.push_back(n);  // EMA copy, DDPM buffers
    else
      unknown.push_back(n);
  }
  if (!unet.empty()) {
    Component c{"unet", ComponentKind::UNet};
    c.tensors = ldm_unet_to_diffusers(unet, path_ + ": unet", &unknown);
    c.config = infer_unet_config(c.tensors, path_ + ": unet", &assumptions_);
    // SDXL: add_embedding takes the pooled width P and six sinusoids: the latter's width follows.
    const TensorInfo* proj = file.find(kOpenClip + "text_projection");
    if (xl) {
      c.config["sample_size"] = 128;
      assumptions_.push_back("unet sample_size 128 (not stored in the file; SDXL's 1024x1024 images)");
    }
    if (xl && c.config.contains("projection_class_embeddings_input_dim") && proj && proj->shape.size() == 2) {
      const int64_t extra = c.config["projection_class_embeddings_input_dim"].get<int64_t>() - proj->shape[1];
      if (extra > 0 && extra % 12 == 0) {
        c.config["addition_time_embed_dim"] = extra / 6;
        std::erase_if(assumptions_, [](const std::string& a) { return starts_with(a, "unet addition_time_embed_dim"); });
      }
    }
    add_inferred(std::move(c), options);
  }
  if (!vae.empty()) {
    Component c{"vae", ComponentKind::VAE};
    c.tensors = ldm_vae_to_diffusers(vae, path_ + ": vae", &unknown, &ignored_);
    c.config = infer_vae_config(c.tensors, path_ + ": vae", &assumptions_);
    if (xl) {
      std::erase_if(assumptions_, [](const std::string& a) { return starts_with(a, "vae scaling_factor"); });
      c.config["scaling_factor"] = 0.13025;
      c.config["force_upcast"] = true;
      assumptions_.push_back("vae scaling_factor 0.13025 and force_upcast (not stored in the file; SDXL's VAE runs in "
                             "float32 since it overflows float16; override force_upcast=false for an fp16-fix VAE)");
    }
    add_inferred(std::move(c), options);
  } else if (content == FileContent::SDCheckpoint) {
    warnings_.push_back(path_ + ": no VAE in the checkpoint (first_stage_model.*)");
  }
  bool sd2 = !open_clip.empty() && !xl;
  if (xl) {
    add_sdxl_text_encoders(file, clip, open_clip, kOpenClip, options, &unknown);
  } else if (!clip.empty() || sd2) {
    Component c{"text_encoder", ComponentKind::TextEncoder};
    if (sd2) {
      c.tensors = open_clip_to_diffusers(open_clip, path_ + ": text_encoder", false, &unknown, &ignored_);
      c.config = infer_clip_text_config(c.tensors, path_ + ": text_encoder", "gelu", &assumptions_);
      c.config["pad_token_id"] = 0;  // SD 2.x tokenizers pad with "!"
      assumptions_.push_back("text_encoder pad_token_id 0 (SD 2.x tokenizers pad with '!')");
      if (auto* proj = file.find("cond_stage_model.model.text_projection"); proj && proj->shape.size() == 2)
        c.config["projection_dim"] = proj->shape[1];
    } else {
      c.tensors = ldm_clip_to_diffusers(clip, &unknown, &ignored_);
      c.config = infer_clip_text_config(c.tensors, path_ + ": text_encoder", "quick_gelu", &assumptions_);
      c.config["pad_token_id"] = 49407;  // SD 1.x pads with end-of-text
    }
    add_inferred(std::move(c), options);
  } else if (content == FileContent::SDCheckpoint) {
    warnings_.push_back(path_ + ": no text encoder in the checkpoint (cond_stage_model.*)");
  }
  for (auto& n : unknown) warnings_.push_back(path_ + ": unexpected tensor '" + printable(n) + "' ignored");

  if (content == FileContent::LdmVAE) {
    family_ = "VAE";
    return;
  }
  if (xl) {  // diffusers' single-file loader: Euler with leading spacing, zero uncond embeddings
    family_ = "SDXL";
    force_zeros_for_empty_prompt_ = true;
    scheduler_config_ = checkpoint_scheduler_config(false);
    scheduler_config_["_class_name"] = "EulerDiscreteScheduler";
    scheduler_config_["timestep_spacing"] = "leading";
    scheduler_config_["interpolation_type"] = "linear";
    scheduler_config_.erase("skip_prk_steps");
    return;
  }
  bool linear = components_.at("unet").config.value("use_linear_projection", false);
  bool v2 = sd2 || (open_clip.empty() && clip.empty() && linear);
  family_ = v2 ? "SD 2.x" : "SD 1.x";
  // diffusers' single-file loader: SD 2.x means the 768-v config (v-prediction) unless told.
  scheduler_config_ = checkpoint_scheduler_config(v2);
  if (v2)
    assumptions_.push_back(
        "scheduler prediction_type v_prediction (not stored in the file; SD 2.x 768-v; SD 2.x base models need "
        "epsilon)");
}

// SDXL's two text encoders: OpenAI CLIP ViT-L in transformers naming (embedders.0) and
// OpenCLIP bigG (embedders.1) with its last layer kept (the pooled output needs it) and its
// text_projection [W,P] (applied as x @ P) stored transposed as transformers' [P,W] weight.
void WeightSet::add_sdxl_text_encoders(const SafetensorsFile& file, const TensorMap& clip, const TensorMap& open_clip,
                                       const std::string& open_clip_prefix, const LoadOptions& options,
                                       std::vector<std::string>* unknown) {
  if (clip.empty() || open_clip.empty())
    throw Error(path_ + ": an SDXL checkpoint needs both text encoders (conditioner.embedders.0 and .1)");
  Component c1{"text_encoder", ComponentKind::TextEncoder};
  c1.tensors = ldm_clip_to_diffusers(clip, unknown, &ignored_);
  c1.config = infer_clip_text_config(c1.tensors, path_ + ": text_encoder", "quick_gelu", &assumptions_);
  c1.config["pad_token_id"] = 49407;  // CLIP ViT-L's tokenizer pads with end-of-text
  add_inferred(std::move(c1), options);

  Component c2{"text_encoder_2", ComponentKind::TextEncoderWithProjection};
  c2.tensors = open_clip_to_diffusers(open_clip, path_ + ": text_encoder_2", true, unknown, &ignored_);
  const std::string proj_name = open_clip_prefix + "text_projection";
  const TensorInfo* proj = file.find(proj_name);
  const auto width = c2.tensors.find("text_model.final_layer_norm.weight");
  if (!proj || proj->shape.size() != 2 || width == c2.tensors.end() || width->second.shape.size() != 1 ||
      proj->shape[0] != width->second.shape[0])
    throw Error(path_ + ": tensor '" + proj_name + "' " + (proj ? shape_string(proj->shape) : "missing") +
                ": expected [W, P] with W the width of text encoder 2");
  const int64_t W = proj->shape[0], P = proj->shape[1];
  const std::vector<float> src = to_f32(*proj);
  auto values = std::make_shared<std::vector<float>>(size_t(W * P));
  for (int64_t w = 0; w < W; w++)
    for (int64_t p = 0; p < P; p++) (*values)[size_t(p * W + w)] = src[size_t(w * P + p)];
  TensorInfo t;
  t.name = "text_projection.weight";
  t.dtype = FileDType::F32;
  t.shape = {P, W};
  t.data = reinterpret_cast<const uint8_t*>(values->data());
  t.size = values->size() * sizeof(float);
  t.file = path_ + " (" + proj_name + ", transposed)";
  c2.tensors[t.name] = t;
  c2.owned.push_back(std::move(values));
  c2.config = infer_clip_text_config(c2.tensors, path_ + ": text_encoder_2", "gelu", &assumptions_, "text_encoder_2");
  c2.config["pad_token_id"] = 0;  // OpenCLIP's tokenizer_2 pads with "!"
  c2.config["projection_dim"] = P;
  assumptions_.push_back("text_encoder_2 pad_token_id 0 (SDXL's tokenizer_2 pads with '!')");
  add_inferred(std::move(c2), options);
}

}  // namespace sdvk
