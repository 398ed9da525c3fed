// A model's weights under canonical diffusers / transformers names, whatever form they came in:
//   - a diffusers pipeline folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
//     scheduler/), weights in model.safetensors or diffusion_pytorch_model.safetensors
//     (or their .fp16 variants);
//   - one component folder (config.json + weights);
//   - one .safetensors file: an original Stable Diffusion checkpoint (model.diffusion_model.*,
//     first_stage_model.*, cond_stage_model.*) or a single network in diffusers naming. Such a
//     file has no config: the architecture is read off the tensor shapes, and the few values no
//     shape shows (head counts, norm groups) follow the SD convention and are listed in
//     assumptions().
// Every tensor is checked against what the component's config implies: a missing tensor or a
// wrong shape is an Error (expected vs found), a tensor nothing uses is a warning. Tensor bytes
// stay in the read-only file mappings, which the WeightSet keeps alive.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/tensor_specs.h"

namespace sdvk {

// What a .safetensors file holds, from its tensor names alone.
enum class FileContent { SDCheckpoint, SDXLCheckpoint, LdmVAE, DiffusersUNet, DiffusersVAE, CLIPText, CLIP, Unknown };

enum class WeightFormat { SingleFile, PipelineFolder, ComponentFolder };
const char* weight_format_name(WeightFormat f);

enum class ComponentKind { UNet, VAE, TextEncoder, TextEncoderWithProjection, CLIP };
const char* component_class_name(ComponentKind k);  // "UNet2DConditionModel", "AutoencoderKL", ...

struct Component {
  std::string name;  // "unet", "vae", "text_encoder" or "clip"
  ComponentKind kind = ComponentKind::UNet;
  // Complete config: the class defaults overlaid with config.json (or the inferred values) and
  // the caller's overrides, under the diffusers / transformers key names.
  nlohmann::json config;
  bool config_inferred = false;  // read off tensor shapes (no config.json)
  std::string config_file;       // the config.json it came from, "" when inferred
  TensorMap tensors;             // canonical name -> tensor
  std::string source;            // the file the tensors came from

  // Tensor bytes that live in no file mapping (LoRA merges), kept alive with the component.
  std::vector<std::shared_ptr<const std::vector<float>>> owned;
  const TensorInfo& tensor(const std::string& name) const;  // throws Error naming the component
  uint64_t bytes() const;
  uint64_t parameters() const;
};

struct LoadOptions {
  // Config values that win over config.json or the inferred ones, per component, e.g.
  // {"text_encoder": {"num_attention_heads": 4}}: what a single file cannot say. "scheduler"
  // overrides the scheduler config.
  nlohmann::json config_overrides = nlohmann::json::object();
  // "fp16" prefers <weights>.fp16.safetensors in folders, as diffusers' variant="fp16" does;
  // by default the plain file is used and the variant only when it is the only one.
  std::string variant;
};

class WeightSet {
 public:
  // Detects the form of `path` and loads it; throws Error("<path>...: ...") on any problem.
  static WeightSet load(const std::string& path, const LoadOptions& options = {});

  WeightFormat format() const { return format_; }
  const std::string& path() const { return path_; }
  // "SD 1.x", "SD 2.x" or "SDXL" for pipelines and checkpoints; "UNet", "VAE", "CLIP text encoder" or
  // "CLIP" for a single network.
  const std::string& family() const { return family_; }

  bool has(const std::string& component) const { return components_.count(component) > 0; }
  const Component& component(const std::string& name) const;  // throws Error listing what there is
  const std::map<std::string, Component>& components() const { return components_; }

  // The scheduler config: the folder's scheduler_config.json, or for a checkpoint what
  // diffusers' single-file loader builds (PNDM, scaled_linear betas). Null when neither applies.
  const nlohmann::json& scheduler_config() const { return scheduler_config_; }
  const std::string& tokenizer_dir() const { return tokenizer_dir_; }  // "" when there is none
  const std::string& tokenizer_2_dir() const { return tokenizer_2_dir_; }  // SDXL's second; "" when none
  // SDXL: without a negative prompt the uncond embeddings are zeros, not the encoding of "".
  bool force_zeros_for_empty_prompt() const { return force_zeros_for_empty_prompt_; }

  const std::vector<std::string>& warnings() const { return warnings_; }        // unexpected tensors, skipped parts
  const std::vector<std::string>& assumptions() const { return assumptions_; }  // config values no file states
  const std::vector<std::string>& ignored() const { return ignored_; }          // file tensors known to be unused
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }

  // Replaces a tensor's values (same element count) with float32 ones the component keeps
  // alive; `source` says where they came from in messages (a LoRA merge).
  void replace_tensor(const std::string& component, const std::string& name,
                      std::shared_ptr<const std::vector<float>> values, const std::string& source);

 private:
  void load_pipeline_folder(const LoadOptions& options);
  void load_single_file(const LoadOptions& options);
  // One loader per kind of single file (classify_safetensors): a network in diffusers /
  // transformers naming, or an original SD checkpoint (or a stand-alone VAE in its layout).
  void load_diffusers_network(const SafetensorsFile& file, FileContent content, const LoadOptions& options);
  void load_sd_checkpoint(const SafetensorsFile& file, FileContent content, const LoadOptions& options);
  void add_sdxl_text_encoders(const SafetensorsFile& file, const TensorMap& clip, const TensorMap& open_clip,
                              const std::string& open_clip_prefix, const LoadOptions& options,
                              std::vector<std::string>* unknown);
  // Adds a component whose config was read off its tensor shapes.
  void add_inferred(Component c, const LoadOptions& options);
  Component load_component_folder(const std::string& dir, const std::string& name, const LoadOptions& options);
  // Applies overrides, derives the expected tensors from the config and checks against them.
  void finish_component(Component& c, const LoadOptions& options);

  WeightFormat format_ = WeightFormat::SingleFile;
  std::string path_, family_, tokenizer_dir_, tokenizer_2_dir_;
  bool force_zeros_for_empty_prompt_ = false;
  std::map<std::string, Component> components_;
  nlohmann::json scheduler_config_;
  std::vector<std::string> warnings_, assumptions_, ignored_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
};

FileContent classify_safetensors(const SafetensorsFile& file);

}  // namespace sdvk
