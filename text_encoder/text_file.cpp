#include "text_encoder/text_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace sdvk {
namespace {

// Window lengths above this in model_max_length are HF's "no limit" marker (1e30).
constexpr double kMaxContextLength = 1 << 16;

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw Error(path + ": cannot read its size");
  if (size_t(size) > kMaxTokenizerFileBytes)
    throw Error(path + ": too large for a tokenizer file (" + std::to_string(size) + " bytes, at most " +
                std::to_string(kMaxTokenizerFileBytes) + ")");
  std::string text(size_t(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), size)) throw Error(path + ": read failed");
  return text;
}

std::optional<int> model_max_length(const nlohmann::json& config, const std::string& path) {
  auto length = config.find("model_max_length");
  if (length == config.end()) return std::nullopt;
  if (!length->is_number()) throw Error(path + ": model_max_length is not a number");
  if (length->get<double>() > kMaxContextLength) return std::nullopt;
  if (!length->is_number_integer() || length->get<double>() < 2)
    throw Error(path + ": model_max_length " + length->dump() + " is not a usable window length");
  return length->get<int>();
}

}  // namespace sdvk
