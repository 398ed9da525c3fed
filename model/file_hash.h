// SHA-256 of model files, for the PNG record's "Model hash" and "Lora hashes" as AUTOMATIC1111
// writes them (the first 10 hex digits). A multi-gigabyte checkpoint takes seconds to hash, so
// results are cached by path, size and modification time in the sdvk cache folder
// (~/.cache/sdvk/file_hashes.tsv, or SDVK_CACHE_DIR).
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace sdvk {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> finish();  // the digest; the object is spent

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  uint8_t buf_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

std::string hex(const std::array<uint8_t, 32>& digest);

// Lower-case hex SHA-256 of a file's bytes; throws Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

// The first 10 hex digits of sha256_file(path), from the cache when the file's size and
// modification time are what they were when it was hashed. A cache that cannot be read or
// written is ignored (the hash is computed).
std::string short_file_hash(const std::string& path);

}  // namespace sdvk
