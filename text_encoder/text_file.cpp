#include "text_encoder/text_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace sdvk {

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

}  // namespace sdvk
