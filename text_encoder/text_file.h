// Reading the small text files tokenizers ship (vocab.json, merges.txt, configs), with errors
// that name the file.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/json.h"  // read_json_file

namespace sdvk {

// Real tokenizer files are a few MiB; anything far bigger is refused before it is read.
constexpr size_t kMaxTokenizerFileBytes = size_t(64) << 20;

// The whole file. Throws Error "<path>: cannot open (...)" / "<path>: too large ...".
std::string read_text_file(const std::string& path);

// tokenizer_config.json's model_max_length (read from `config`, parsed from `path`): the window
// length, or nullopt when the key is absent or holds HF's "no limit" marker (1e30). Throws Error
// naming `path` when it is not a usable length.
std::optional<int> model_max_length(const nlohmann::json& config, const std::string& path);

}  // namespace sdvk
