// Untrusted JSON (safetensors headers, config.json files): parsing with bounded size and depth,
// and typed access whose failures are one-line errors naming the file and the key.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sdvk {

// Parses `text`; throws Error("<where>: not valid JSON (at byte N)") or for nesting deeper
// than 16 levels.
nlohmann::json parse_json_text(const char* text, size_t size, const std::string& where);

// Reads and parses a JSON file of at most 16 MB.
nlohmann::json read_json_file(const std::string& path);

// Typed, range-checked reads of one config object. `where` opens every message, e.g.
// "unet/config.json" or "unet config inferred from model.safetensors".
class ConfigView {
 public:
  ConfigView(const nlohmann::json& config, std::string where);

  bool has(const char* key) const;  // present and not null
  int64_t integer(const char* key, int64_t min, int64_t max) const;
  double number(const char* key) const;
  double number(const char* key, double min, double max) const;  // also within [min, max]
  bool boolean(const char* key) const;
  std::string string(const char* key) const;
  std::vector<int64_t> int_list(const char* key, size_t min_len, size_t max_len, int64_t min, int64_t max) const;
  std::vector<std::string> string_list(const char* key, size_t len) const;
  // diffusers lets some per-block values be one integer for all blocks or a list of `n`.
  std::vector<int64_t> per_block(const char* key, size_t n, int64_t min, int64_t max) const;
  // Throws unless `key` is absent or null (a feature this engine does not load).
  void expect_null(const char* key) const;

  [[noreturn]] void fail(const char* key, const std::string& what) const;
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json& at(const char* key) const;
  const nlohmann::json& config_;
  std::string where_;
};

}  // namespace sdvk
