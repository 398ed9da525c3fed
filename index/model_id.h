// Which CLIP model made an index's embeddings: embeddings of two models live in different
// spaces, so an index holds one model's and refuses another's.
#pragma once
#include <string>

namespace sdvk {

// The first 16 hex digits of the SHA-256 of what decides a CLIP model's embeddings: its weight
// file's hash (model/file_hash.h, cached by size and mtime, so a large file is hashed once),
// its effective config (config.json over the class defaults) and its preprocessor_config.json
// when there is one. Loads only the file headers, no weights onto a device. `path` as ClipScorer::open takes it.
std::string clip_model_id(const std::string& path);

}  // namespace sdvk
