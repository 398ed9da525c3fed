#include "pipeline/model_setup.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/json.h"
#include "vk/error.h"

namespace sdvk::pipeline {

namespace fs = std::filesystem;

std::string data_dir() {
  if (const char* env = std::getenv("SDVK_DATA_DIR"); env && *env) return env;
  return SDVK_DEFAULT_DATA_DIR;
}

bool looks_like_sdxl(const std::string& path) {
  try {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      const fs::path index = fs::path(path) / "model_index.json";
      return fs::is_regular_file(index, ec) && read_json_file(index.string()).contains("text_encoder_2");
    }
    return fs::is_regular_file(path, ec) && classify_safetensors(SafetensorsFile(path)) == FileContent::SDXLCheckpoint;
  } catch (const Error&) {
    return false;
  }
}

std::string tokenizer_path(const WeightSet& weights) {
  if (!weights.tokenizer_dir().empty()) return weights.tokenizer_dir();
  return (fs::path(data_dir()) / "clip-tokenizer").string();
}

int tokenizer_pad(const WeightSet& weights, const std::string& encoder) {
  const Component& c = weights.component(encoder);
  if (!c.config_inferred || !c.config.contains("pad_token_id") || !c.config["pad_token_id"].is_number_integer())
    return -1;
  return c.config["pad_token_id"].get<int>();
}

std::string tokenizer_2_path(const WeightSet& weights) {
  if (!weights.tokenizer_2_dir().empty()) return weights.tokenizer_2_dir();
  return (fs::path(data_dir()) / "clip-tokenizer").string();
}

nlohmann::json scheduler_config(const WeightSet& weights) {
  nlohmann::json c = weights.scheduler_config();
  if (!c.is_object()) throw Error(weights.path() + ": no scheduler config (a diffusers folder has scheduler/scheduler_config.json)");
  c["steps_offset"] = 1;
  if (c.contains("clip_sample")) c["clip_sample"] = false;
  return c;
}

}  // namespace sdvk::pipeline
