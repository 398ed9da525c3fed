#include "gen/model_flags.h"

#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "model/safetensors.h"
#include "pipeline/model_setup.h"

namespace sdvk::gen {

namespace fs = std::filesystem;

std::string default_model_path(const std::string& flag, const std::string& name) {
  fs::path demo = fs::path(pipeline::data_dir()) / name;
  std::error_code ec;
  if (fs::is_directory(demo, ec)) return demo.string();
  throw Error(flag + " is required: no bundled demo model at " + demo.string());
}

namespace {

// A word that can only mean a string: a letter, then letters, digits, '_', '-' or '.'.
bool is_bare_word(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

}  // namespace

void add_config_override(nlohmann::json* overrides, const std::string& spec, const std::string& component) {
  const std::string example = component.empty() ? "text_encoder.num_attention_heads=12" : "vision_config.num_attention_heads=1";
  size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--config-override " + spec + ": expected " + (component.empty() ? "COMPONENT." : "") + "KEY=VALUE, e.g. " + example);
  std::string key = (component.empty() ? "" : component + ".") + spec.substr(0, eq), text = spec.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded() && is_bare_word(text)) value = text;  // v_prediction for "v_prediction"
  if (value.is_discarded())
    throw Error("--config-override " + printable(spec) + ": the value is not JSON (quote a string: KEY='\"text\"')");
  nlohmann::json* at = overrides;
  size_t parts = 0;
  for (size_t start = 0;; parts++) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error("--config-override " + spec + ": empty key part");
    at = &(*at)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (parts == 0) throw Error("--config-override " + spec + ": expected COMPONENT.KEY=VALUE, e.g. " + example);
  *at = value;
}

}  // namespace sdvk::gen
