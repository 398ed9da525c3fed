#include "scheduler/config_reader.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace sdvk {

ConfigReader::ConfigReader(const nlohmann::json& config, std::string owner)
    : config_(config), owner_(std::move(owner)) {
  if (!config_.is_object()) throw Error("scheduler config: " + owner_ + ": not a JSON object");
}

void ConfigReader::fail(const char* key, const std::string& problem) const {
  throw Error("scheduler config: " + owner_ + ": " + key + ": " + problem);
}

const nlohmann::json* ConfigReader::find(const char* key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool ConfigReader::flag(const char* key, bool fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "expected true or false, got " + v->dump());
  return v->get<bool>();
}

int64_t ConfigReader::integer(const char* key, int64_t fallback, int64_t min, int64_t max) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail(key, "expected an integer, got " + v->dump());
  // Unsigned values above INT64_MAX read as negative here and fail the range check.
  const int64_t value = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)
                            ? INT64_MIN
                            : v->get<int64_t>();
  if (value < min || value > max)
    fail(key, v->dump() + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return value;
}

double ConfigReader::number(const char* key, double fallback, double min, double max) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) fail(key, "expected a number, got " + v->dump());
  const double value = v->get<double>();
  if (!std::isfinite(value) || value < min || value > max) {
    std::ostringstream range;
    range << "[" << min << ", " << max << "]";
    fail(key, v->dump() + " is outside " + range.str());
  }
  return value;
}

std::string ConfigReader::choice(const char* key, const std::string& fallback,
                                 std::initializer_list<const char*> allowed) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(key, "expected a string, got " + v->dump());
  const std::string value = v->get<std::string>();
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return value;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  fail(key, "'" + value + "' is not supported (expected one of " + list + ")");
}

std::vector<double> ConfigReader::numbers(const char* key, size_t max_count) const {
  const auto* v = find(key);
  if (!v) return {};
  if (!v->is_array()) fail(key, "expected a list of numbers");
  if (v->size() > max_count) fail(key, "more than " + std::to_string(max_count) + " values");
  std::vector<double> out;
  out.reserve(v->size());
  for (const auto& item : *v) {
    if (!item.is_number() || !std::isfinite(item.get<double>())) fail(key, "non-number " + item.dump());
    out.push_back(item.get<double>());
  }
  return out;
}

std::vector<int64_t> ConfigReader::integers(const char* key, size_t max_count) const {
  const auto* v = find(key);
  if (!v) return {};
  if (!v->is_array()) fail(key, "expected a list of integers");
  if (v->size() > max_count) fail(key, "more than " + std::to_string(max_count) + " values");
  std::vector<int64_t> out;
  for (const auto& item : *v) {
    if (!item.is_number_integer()) fail(key, "non-integer " + item.dump());
    out.push_back(item.get<int64_t>());
  }
  return out;
}

}  // namespace sdvk
