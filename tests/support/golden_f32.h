// Test support: reads the float32 tensors of a small reference .safetensors file (the goldens
// under tests/data). Header-only; trusted test data, but still bounds-checked so a truncated
// file fails the test with a message instead of reading past the buffer.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdvk::test {

class GoldenF32 {
 public:
  explicit GoldenF32(const std::string& path) : path_(path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (bytes.size() < 8) throw std::runtime_error(path + ": too short");
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    if (header_len > bytes.size() - 8) throw std::runtime_error(path + ": header past the end");
    auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + ptrdiff_t(header_len));
    const size_t data_start = 8 + header_len;
    for (auto& [name, info] : header.items()) {
      if (name == "__metadata__") continue;
      if (info.at("dtype") != "F32") throw std::runtime_error(path + ": " + name + " is not F32");
      const uint64_t begin = info.at("data_offsets")[0], end = info.at("data_offsets")[1];
      if (begin > end || end > bytes.size() - data_start || (end - begin) % 4)
        throw std::runtime_error(path + ": " + name + ": bad data offsets");
      std::vector<float> values((end - begin) / 4);
      std::memcpy(values.data(), bytes.data() + data_start + begin, end - begin);
      tensors_[name] = std::move(values);
    }
  }

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::vector<float>& at(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw std::runtime_error(path_ + ": no tensor " + name);
    return it->second;
  }

 private:
  std::string path_;
  std::map<std::string, std::vector<float>> tensors_;
};

}  // namespace sdvk::test
