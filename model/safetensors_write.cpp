// write_safetensors: header padded to 8 bytes (so every tensor of the usual dtypes starts
// aligned), data in the order given, written under a temporary name and renamed at the end.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "model/replace_target.h"
#include "model/safetensors.h"

namespace sdvk {

namespace {

// Writes all of [data, data+size) or returns false with errno set.
bool write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    size -= size_t(n);
  }
  return true;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& what) { throw Error(path + ": " + what); };

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (auto& t : tensors) {
    std::string where = "tensor '" + printable(t.name) + "': ";
    if (t.name.empty() || t.name == "__metadata__") fail(where + "not a usable tensor name");
    if (!seen.insert(t.name).second) fail(where + "written twice");
    uint64_t bytes = file_dtype_size(t.dtype);
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(bytes, uint64_t(d), &bytes))
        fail(where + "bad shape " + shape_string(t.shape));
    if (bytes != t.size)
      fail(where + std::to_string(t.size) + " bytes given but " + file_dtype_name(t.dtype) + " " + shape_string(t.shape) +
           " needs " + std::to_string(bytes));
    if (bytes && !t.data) fail(where + "no data");
    header[t.name] = {{"dtype", file_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));

  const std::string target = replace_target(path);  // a symlink's target; never a folder or device
  std::string tmp = target + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(std::string("cannot create ") + tmp + ": " + std::strerror(errno));
  bool ok = write_all(fd, len, 8) && write_all(fd, text.data(), text.size());
  for (size_t i = 0; ok && i < tensors.size(); i++) ok = write_all(fd, tensors[i].data, tensors[i].size);
  std::string error = ok ? "" : std::strerror(errno);
  if (::close(fd) != 0 && ok) {
    ok = false;
    error = std::strerror(errno);
  }
  if (ok && ::rename(tmp.c_str(), target.c_str()) != 0) {
    ok = false;
    error = std::string("cannot rename into place: ") + std::strerror(errno);
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    fail("write failed: " + error);
  }
}

}  // namespace sdvk
