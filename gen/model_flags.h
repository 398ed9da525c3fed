// Flags that name models: the bundled model a missing flag falls back to, and --config-override.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace sdvk::gen {

// The bundled model `name` (demo-sd, demo-clip) when it exists; otherwise an Error telling the
// user to pass `flag`.
std::string default_model_path(const std::string& flag, const std::string& name);
// --config-override "a.b.c=V": overrides[component]["a"]["b"]["c"] = V, V as JSON, or a bare
// word (letters, digits, _ - .) as a string; anything else is an Error. Keys are checked
// against the model's config when it loads (WeightSet::load). With component "" the first key
// part names the component ("text_encoder.num_attention_heads=12").
void add_config_override(nlohmann::json* overrides, const std::string& spec, const std::string& component);

}  // namespace sdvk::gen
