#include "index/model_id.h"

#include <filesystem>

#include "model/file_hash.h"
#include "model/weights.h"

namespace sdvk {

std::string clip_model_id(const std::string& path) {
  namespace fs = std::filesystem;
  WeightSet weights = WeightSet::load(path);
  const Component& clip = weights.component("clip");  // throws, listing what the path holds
  std::string identity = "weights " + short_file_hash(clip.source) + "\nconfig " + clip.config.dump() + "\n";
  // The preprocessing sits beside config.json (or the weight file), as ClipScorer reads it.
  fs::path dir = fs::path(clip.config_file.empty() ? clip.source : clip.config_file).parent_path();
  std::error_code ec;
  if (fs::is_regular_file(dir / "preprocessor_config.json", ec))
    identity += "preprocess " + sha256_file((dir / "preprocessor_config.json").string()) + "\n";
  Sha256 h;
  h.update(identity.data(), identity.size());
  return hex(h.finish()).substr(0, 16);
}

}  // namespace sdvk
