#include "image/parameters.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sdvk {
namespace {

const char* kNegativePrefix = "Negative prompt: ";

// AUTOMATIC1111's quote(): plain unless the value could break the "k: v, k: v" line.
std::string quote(const std::string& v) {
  if (v.find_first_of(",:\n\"") == std::string::npos) return v;
  return nlohmann::json(v).dump();
}

std::string shortest(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // 7 -> "7.0", as Python prints it
  return s;
}

template <class T>
bool parse_number(const std::string& s, T* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "k: v, k: "quoted, v", ..." -> pairs; false when the line is not of that form.
bool parse_settings(const std::string& line, std::vector<std::pair<std::string, std::string>>* out) {
  size_t i = 0, n = line.size();
  while (i < n) {
    while (i < n && line[i] == ' ') i++;
    size_t colon = line.find(':', i);
    if (colon == std::string::npos || colon == i) return false;
    std::string key = line.substr(i, colon - i);
    if (key.find(',') != std::string::npos || key.find('"') != std::string::npos) return false;
    i = colon + 1;
    while (i < n && line[i] == ' ') i++;
    std::string value;
    if (i < n && line[i] == '"') {
      size_t j = i + 1;
      while (j < n && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
      if (j >= n) return false;
      try {
        value = nlohmann::json::parse(line.substr(i, j + 1 - i)).get<std::string>();
      } catch (const std::exception&) {
        return false;
      }
      i = j + 1;
      while (i < n && line[i] == ' ') i++;
      if (i < n && line[i] != ',') return false;
    } else {
      size_t comma = line.find(',', i);
      if (comma == std::string::npos) comma = n;
      value = line.substr(i, comma - i);
      while (!value.empty() && value.back() == ' ') value.pop_back();
      i = comma;
    }
    out->push_back({key, value});
    if (i < n) i++;  // the comma
  }
  return !out->empty();
}

}  // namespace

std::string format_parameters(const GenerationParameters& p) {
  std::string s = p.prompt + "\n";
  if (!p.negative_prompt.empty()) s += kNegativePrefix + p.negative_prompt + "\n";
  s += "Steps: " + std::to_string(p.steps) + ", Sampler: " + quote(p.sampler) + ", CFG scale: " + shortest(p.cfg_scale) +
       ", Seed: " + std::to_string(p.seed) + ", Size: " + std::to_string(p.width) + "x" + std::to_string(p.height);
  if (!p.model_hash.empty()) s += ", Model hash: " + quote(p.model_hash);
  if (!p.model.empty()) s += ", Model: " + quote(p.model);
  for (auto& [k, v] : p.extra) s += ", " + k + ": " + quote(v);
  if (!p.version.empty()) s += ", Version: " + quote(p.version);
  return s;
}

GenerationParameters parse_parameters(const std::string& text) {
  GenerationParameters p;
  size_t last_nl = text.rfind('\n');
  std::string last = last_nl == std::string::npos ? text : text.substr(last_nl + 1);
  std::vector<std::pair<std::string, std::string>> settings;
  // Three pairs at least, as AUTOMATIC1111 requires, so a prompt line like "style: oil" stays prompt.
  if (!parse_settings(last, &settings) || settings.size() < 3) {
    settings.clear();
    last_nl = text.size();
  }
  std::string body = last_nl == std::string::npos ? "" : text.substr(0, last_nl);
  // The first line starting with the prefix begins the negative prompt (so a prompt must not
  // itself hold a line starting "Negative prompt: ").
  size_t neg = body.find(std::string("\n") + kNegativePrefix);
  if (neg != std::string::npos) {
    p.prompt = body.substr(0, neg);
    p.negative_prompt = body.substr(neg + 1 + std::string(kNegativePrefix).size());
  } else {
    p.prompt = body;
  }
  auto bad = [&](const std::string& key, const std::string& v) {
    return Error("parameters: " + key + " '" + v + "' does not parse");
  };
  for (auto& [k, v] : settings) {
    if (k == "Steps") {
      if (!parse_number(v, &p.steps)) throw bad(k, v);
    } else if (k == "Sampler") {
      p.sampler = v;
    } else if (k == "CFG scale") {
      if (!parse_number(v, &p.cfg_scale)) throw bad(k, v);
    } else if (k == "Seed") {
      if (!parse_number(v, &p.seed)) throw bad(k, v);
    } else if (k == "Size") {
      size_t x = v.find('x');
      if (x == std::string::npos || !parse_number(v.substr(0, x), &p.width) || !parse_number(v.substr(x + 1), &p.height))
        throw bad(k, v);
    } else if (k == "Model hash") {
      p.model_hash = v;
    } else if (k == "Model") {
      p.model = v;
    } else if (k == "Version") {
      p.version = v;
    } else {
      p.extra.push_back({k, v});
    }
  }
  return p;
}

}  // namespace sdvk
