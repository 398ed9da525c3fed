// safetensors files: a read-only memory-mapped reader that validates every header field before
// exposing a byte, and a writer that never leaves a half-written file behind.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
//   {name: {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}
// then the data area; offsets are relative to the start of the data area.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sdvk {

enum class FileDType { BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };

const char* file_dtype_name(FileDType t);  // "F16", as spelled in the header
size_t file_dtype_size(FileDType t);       // bytes per element
bool parse_file_dtype(const std::string& name, FileDType* out);
// The float formats the engine reads (F32, F16, BF16). Integer tensors such as position_ids
// are present in the file but are not weights.
bool is_float_file_dtype(FileDType t);

struct TensorInfo {
  std::string name;
  FileDType dtype = FileDType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping; NOT aligned: read with memcpy
  size_t size = 0;                // bytes
  std::string file;               // where it came from, for error messages
  bool file_mapped = false;       // data lies in a read-only file mapping (see release_pages)

  int64_t numel() const;
  bool is_float() const { return is_float_file_dtype(dtype); }
  std::span<const uint8_t> bytes() const { return {data, size}; }
};

// "[320, 4, 3, 3]"
std::string shape_string(const std::vector<int64_t>& shape);

// Drops the whole memory pages of a file-mapped tensor's bytes from the process (its resident
// set), once they have been copied elsewhere (uploaded to the device): the mapping stays valid
// and a later read pages them in again from the file. Does nothing for other tensors.
void release_pages(const TensorInfo& t);

class SafetensorsFile {
 public:
  // Largest header accepted: real checkpoints have headers of a few hundred KB.
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  // Maps and validates the file; throws Error("<path>: ...") naming the offending tensor or field.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  std::vector<std::string> names() const;
  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  void* map_ = nullptr;
  uint64_t file_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Throws the one-line refusal when `path` is a PyTorch pickle/zip checkpoint (by its first
// bytes or its .ckpt/.pt/.pth/.bin name); such files can run code when loaded, so they are
// never opened, only recognised.
void refuse_pickle_checkpoint(const std::string& path);

// One tensor for write_safetensors; `data` must hold numel(shape) * file_dtype_size(dtype) bytes.
struct TensorToWrite {
  std::string name;
  FileDType dtype = FileDType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t size = 0;
};

// Writes `path` as <path>.tmp.<pid> then renames it into place, so a reader never sees a
// partial file. Tensor names must be unique and not "__metadata__".
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sdvk
