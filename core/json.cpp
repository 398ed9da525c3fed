#include "core/json.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sdvk {

namespace {

// Deepest nesting of a JSON text, strings skipped.
int json_depth(const char* p, const char* end) {
  int depth = 0, worst = 0;
  bool in_string = false;
  for (; p < end; p++) {
    char c = *p;
    if (in_string) {
      if (c == '\\')
        p++;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      worst = std::max(worst, ++depth);
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  return worst;
}

std::string json_type(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

}  // namespace

nlohmann::json parse_json_text(const char* text, size_t size, const std::string& where) {
  // nlohmann parses iteratively, but bounding the depth keeps every later walk cheap.
  if (json_depth(text, text + size) > 16) throw Error(where + ": JSON nested too deeply");
  try {
    return nlohmann::json::parse(text, text + size);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where + ": not valid JSON (at byte " + std::to_string(e.byte) + " of " + std::to_string(size) + ")");
  } catch (const nlohmann::json::exception&) {  // out_of_range: a number beyond double (its text not echoed)
    throw Error(where + ": not valid JSON (a number is out of range)");
  }
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw Error(path + ": cannot read");
  if (size > (16 << 20)) throw Error(path + ": " + std::to_string(size) + " bytes is too large for a config file");
  in.seekg(0);
  std::string text(size_t(size), '\0');
  if (!in.read(text.data(), size)) throw Error(path + ": cannot read");
  return parse_json_text(text.data(), text.size(), path);
}

ConfigView::ConfigView(const nlohmann::json& config, std::string where) : config_(config), where_(std::move(where)) {
  if (!config_.is_object()) throw Error(where_ + ": not a JSON object");
}

const nlohmann::json& ConfigView::at(const char* key) const {
  auto it = config_.find(key);
  if (it == config_.end()) fail(key, "missing");
  return *it;
}

bool ConfigView::has(const char* key) const {
  auto it = config_.find(key);
  return it != config_.end() && !it->is_null();
}

void ConfigView::fail(const char* key, const std::string& what) const {
  throw Error(where_ + ": \"" + key + "\" " + what);
}

int64_t ConfigView::integer(const char* key, int64_t min, int64_t max) const {
  const auto& v = at(key);
  // Whole-valued floats (1.0) occur in hand-edited configs; accept them when in range.
  double d = v.is_number_float() ? v.get<double>() : 0.0;
  bool whole = v.is_number_integer() || (v.is_number_float() && std::fabs(d) < 9e15 && d == std::floor(d));
  if (!whole) fail(key, "must be an integer, found " + json_type(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(max)) fail(key, "must be at most " + std::to_string(max));
  int64_t n = v.is_number_float() ? int64_t(d) : v.get<int64_t>();
  if (n < min || n > max)
    fail(key, "is " + std::to_string(n) + ", must be from " + std::to_string(min) + " to " + std::to_string(max));
  return n;
}

double ConfigView::number(const char* key) const {
  const auto& v = at(key);
  if (!v.is_number()) fail(key, "must be a number, found " + json_type(v));
  return v.get<double>();
}

double ConfigView::number(const char* key, double min, double max) const {
  double x = number(key);
  if (!(x >= min && x <= max)) fail(key, "is " + printable(at(key).dump()) + ", must be from " + printable(nlohmann::json(min).dump()) + " to " + printable(nlohmann::json(max).dump()));
  return x;
}

bool ConfigView::boolean(const char* key) const {
  const auto& v = at(key);
  if (!v.is_boolean()) fail(key, "must be true or false, found " + json_type(v));
  return v.get<bool>();
}

std::string ConfigView::string(const char* key) const {
  const auto& v = at(key);
  if (!v.is_string()) fail(key, "must be a string, found " + json_type(v));
  return v.get<std::string>();
}

std::vector<int64_t> ConfigView::int_list(const char* key, size_t min_len, size_t max_len, int64_t min,
                                          int64_t max) const {
  const auto& v = at(key);
  std::string want = "must be a list of " + std::to_string(min_len) + ".." + std::to_string(max_len) +
                     " integers from " + std::to_string(min) + " to " + std::to_string(max);
  if (!v.is_array() || v.size() < min_len || v.size() > max_len) fail(key, want);
  std::vector<int64_t> out;
  for (auto& e : v) {
    if (!e.is_number_integer() || (e.is_number_unsigned() && e.get<uint64_t>() > uint64_t(max))) fail(key, want);
    int64_t n = e.get<int64_t>();
    if (n < min || n > max) fail(key, want);
    out.push_back(n);
  }
  return out;
}

std::vector<std::string> ConfigView::string_list(const char* key, size_t len) const {
  const auto& v = at(key);
  if (!v.is_array() || v.size() != len) fail(key, "must be a list of " + std::to_string(len) + " names");
  std::vector<std::string> out;
  for (auto& e : v) {
    if (!e.is_string()) fail(key, "must be a list of " + std::to_string(len) + " names");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<int64_t> ConfigView::per_block(const char* key, size_t n, int64_t min, int64_t max) const {
  if (at(key).is_array()) return int_list(key, n, n, min, max);
  return std::vector<int64_t>(n, integer(key, min, max));
}

void ConfigView::expect_null(const char* key) const {
  if (has(key)) fail(key, "is " + printable(config_.at(key).dump()) + ": not supported");
}

}  // namespace sdvk
