// Typed access to a diffusers scheduler_config.json with one-line errors naming the field.
// As diffusers' from_config does, keys a scheduler does not know are ignored and a missing key
// (or a null, as configs write "trained_betas": null) takes that scheduler's default.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdvk {

class ConfigReader {
 public:
  // `owner` names the scheduler class in messages.
  ConfigReader(const nlohmann::json& config, std::string owner);

  bool flag(const char* key, bool fallback) const;
  int64_t integer(const char* key, int64_t fallback, int64_t min, int64_t max) const;
  // A finite number in [min, max].
  double number(const char* key, double fallback, double min, double max) const;
  // One of `allowed`.
  std::string choice(const char* key, const std::string& fallback,
                     std::initializer_list<const char*> allowed) const;
  // A list of finite numbers (empty when absent), at most max_count long.
  std::vector<double> numbers(const char* key, size_t max_count) const;
  std::vector<int64_t> integers(const char* key, size_t max_count) const;

  // Throws Error("scheduler config: <owner>: <key>: <problem>").
  [[noreturn]] void fail(const char* key, const std::string& problem) const;

 private:
  const nlohmann::json* find(const char* key) const;  // nullptr when absent or null
  const nlohmann::json& config_;
  std::string owner_;
};

}  // namespace sdvk
