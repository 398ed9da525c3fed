// What `generate` decides around the networks: where the model and tokenizer are, config
// overrides from the command line, the precision, the size step, the scheduler config.
#pragma once
#include <string>
#include <vector>

#include "model/weights.h"
#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk::gen {

// The folder bundled models live in: $SDVK_DATA_DIR, else the source tree's models/.
std::string data_dir();
// The bundled model `name` (demo-sd, demo-clip) when it exists; otherwise an Error telling the
// user to pass `flag`.
std::string default_model_path(const std::string& flag, const std::string& name);
// --tokenizer DIR, else the model's tokenizer/ folder, else the bundled CLIP BPE tokenizer
// (single-file SD checkpoints carry none; SD 1.x and 2.x both use CLIP's vocabulary).
std::string tokenizer_path(const std::string& flag_value, const WeightSet& weights);
// --config-override "a.b.c=V": overrides[component]["a"]["b"]["c"] = V, V as JSON, or a bare
// word (letters, digits, _ - .) as a string; anything else is an Error. Keys are checked
// against the model's config when it loads (WeightSet::load). With component "" the first key part names the component
// ("text_encoder.num_attention_heads=12").
void add_config_override(nlohmann::json* overrides, const std::string& spec, const std::string& component);
// "fp16" / "fp32" / "auto" (fp16 where the device supports 16-bit storage).
DType pick_precision(const std::string& precision, const Context& ctx);
// The model's scheduler config with what StableDiffusionPipeline forces on old configs:
// steps_offset 1 and clip_sample false. Error when the model has none.
nlohmann::json scheduler_config(const WeightSet& weights);

}  // namespace sdvk::gen
