#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"

namespace sdvk {

namespace {

struct DTypeEntry {
  FileDType type;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {FileDType::BOOL, "BOOL", 1},       {FileDType::U8, "U8", 1},   {FileDType::I8, "I8", 1},   {FileDType::F8_E4M3, "F8_E4M3", 1},
    {FileDType::F8_E5M2, "F8_E5M2", 1}, {FileDType::I16, "I16", 2}, {FileDType::U16, "U16", 2}, {FileDType::F16, "F16", 2},
    {FileDType::BF16, "BF16", 2},       {FileDType::I32, "I32", 4}, {FileDType::U32, "U32", 4}, {FileDType::F32, "F32", 4},
    {FileDType::I64, "I64", 8},         {FileDType::U64, "U64", 8}, {FileDType::F64, "F64", 8},
};

const DTypeEntry& entry(FileDType t) {
  for (auto& e : kDTypes)
    if (e.type == t) return e;
  return kDTypes[0];  // unreachable: every enumerator is in the table
}

bool looks_like_pickle_or_zip(const uint8_t* b, size_t n) {
  if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return true;  // torch.save zip
  return n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5;                          // pickle PROTO
}

std::string errno_text() { return std::strerror(errno); }

[[noreturn]] void throw_pickle_refusal(const std::string& path) {
  throw Error(path +
              ": PyTorch pickle checkpoint refused (loading one can run arbitrary code); convert it to "
              ".safetensors first and load that");
}

// A JSON integer >= 0 as uint64 (false for floats, negatives, other types).
bool json_uint(const nlohmann::json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

const char* file_dtype_name(FileDType t) { return entry(t).name; }
size_t file_dtype_size(FileDType t) { return entry(t).size; }

bool parse_file_dtype(const std::string& name, FileDType* out) {
  for (auto& e : kDTypes)
    if (name == e.name) {
      *out = e.type;
      return true;
    }
  return false;
}

bool is_float_file_dtype(FileDType t) { return t == FileDType::F32 || t == FileDType::F16 || t == FileDType::BF16; }

void release_pages(const TensorInfo& t) {
  if (!t.file_mapped || t.size == 0) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(t.data) + page - 1) / page * page;  // whole pages only:
  const uintptr_t end = (uintptr_t(t.data) + t.size) / page * page;      // neighbours share the rest
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow when the header was read
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void refuse_pickle_checkpoint(const std::string& path) {
  auto ends_with = [&](const char* ext) {
    size_t n = std::strlen(ext);
    return path.size() >= n && path.compare(path.size() - n, n, ext) == 0;
  };
  bool pickle = ends_with(".ckpt") || ends_with(".pt") || ends_with(".pth") || ends_with(".bin");
  if (!pickle) {
    uint8_t head[4] = {};
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n = ::pread(fd, head, sizeof head, 0);
      ::close(fd);
      pickle = n > 0 && looks_like_pickle_or_zip(head, size_t(n));
    }
  }
  if (pickle) throw_pickle_refusal(path);
}

namespace {

// Closes a descriptor on every path out of the constructor.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

// One header entry, checked against the data area: its dtype, shape and byte range [begin, end).
TensorInfo read_entry(const std::string& path, const std::string& key, const nlohmann::json& value, uint64_t data_size,
                      uint64_t* begin, uint64_t* end) {
  auto tfail = [&](const std::string& what) { throw Error(path + ": tensor '" + printable(key) + "': " + what); };
  if (!value.is_object()) tfail("entry is not a JSON object");
  TensorInfo t;
  t.name = key;
  auto dt = value.find("dtype");
  if (dt == value.end() || !dt->is_string()) tfail("missing or non-string \"dtype\"");
  if (!parse_file_dtype(dt->get<std::string>(), &t.dtype))
    tfail("unknown dtype '" + printable(dt->get<std::string>()) + "'");

  auto sh = value.find("shape");
  if (sh == value.end() || !sh->is_array()) tfail("missing or non-array \"shape\"");
  if (sh->size() > 16) tfail("shape has " + std::to_string(sh->size()) + " dimensions");
  uint64_t numel = 1;
  for (auto& d : *sh) {
    uint64_t dim = 0;
    if (!json_uint(d, &dim)) tfail("shape " + printable(sh->dump()) + " has a negative or non-integer dimension");
    if (dim > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel))
      tfail("shape " + printable(sh->dump()) + " overflows");
    t.shape.push_back(int64_t(dim));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, uint64_t(file_dtype_size(t.dtype)), &nbytes) || numel > uint64_t(INT64_MAX))
    tfail("shape " + printable(sh->dump()) + " overflows");

  auto off = value.find("data_offsets");
  if (off == value.end() || !off->is_array() || off->size() != 2 || !json_uint((*off)[0], begin) ||
      !json_uint((*off)[1], end))
    tfail("\"data_offsets\" is not a pair of non-negative integers");
  std::string range = "data_offsets [" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
  if (*begin > *end) tfail(range + " has begin after end");
  if (*end > data_size)
    tfail(range + " lie outside the data area (" + std::to_string(data_size) + " bytes; truncated file?)");
  if (*end - *begin != nbytes)
    tfail(range + " hold " + std::to_string(*end - *begin) + " bytes but " + file_dtype_name(t.dtype) + " " +
          shape_string(t.shape) + " needs " + std::to_string(nbytes));
  t.size = size_t(nbytes);
  return t;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  auto fail = [&](const std::string& what) { throw Error(path_ + ": " + what); };

  FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) fail("cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail("cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) fail(S_ISDIR(st.st_mode) ? "is a directory, not a safetensors file" : "not a regular file");
  file_size_ = uint64_t(st.st_size);
  uint8_t head[9] = {};
  ssize_t got = file_size_ ? ::pread(fd.fd, head, sizeof head, 0) : 0;
  if (got < 0) fail("cannot read: " + errno_text());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--) header_len = header_len << 8 | head[i];
  // A pickle's first bytes read as a nonsense header length; only then is it taken for one.
  bool plausible = file_size_ >= 8 && header_len <= file_size_ - 8 && got == 9 && head[8] == '{';
  if (!plausible && looks_like_pickle_or_zip(head, size_t(got))) throw_pickle_refusal(path);
  if (file_size_ < 8) fail("too short for a safetensors header (" + std::to_string(file_size_) + " bytes)");
  if (header_len > kMaxHeaderBytes)
    fail("header length " + std::to_string(header_len) + " is over the " + std::to_string(kMaxHeaderBytes >> 20) +
         " MB limit");
  if (header_len > file_size_ - 8)
    fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
         std::to_string(file_size_) + " bytes; truncated?)");
  // Read-only and private: nothing here can write the file. (A file truncated by another
  // process while mapped would fault on access; checkpoints are not edited in place.)
  void* map = ::mmap(nullptr, size_t(file_size_), PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (map == MAP_FAILED) fail("cannot map: " + errno_text());
  map_ = map;

  // From here a throw must unmap: the destructor does not run for a throwing constructor.
  try {
    const auto* base = static_cast<const uint8_t*>(map_);
    nlohmann::json header =
        parse_json_text(reinterpret_cast<const char*>(base + 8), size_t(header_len), path_ + ": header");
    if (!header.is_object()) fail("header is not a JSON object");
    const uint8_t* data_area = base + 8 + header_len;
    uint64_t data_size = file_size_ - 8 - header_len;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) per tensor, same order
    for (auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        if (!value.is_object()) fail("__metadata__ is not a JSON object");
        for (auto& [mk, mv] : value.items()) {
          if (!mv.is_string()) fail("__metadata__ field '" + printable(mk) + "' is not a string");
          metadata_[mk] = mv.get<std::string>();
        }
        continue;
      }
      uint64_t begin = 0, end = 0;
      TensorInfo t = read_entry(path_, key, value, data_size, &begin, &end);
      t.data = data_area + begin;
      t.file = path_;
      t.file_mapped = true;
      tensors_.push_back(std::move(t));
      ranges.push_back({begin, end});
    }

    // No two tensors may share bytes (empty tensors occupy nothing).
    std::vector<size_t> order(tensors_.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
    size_t prev = SIZE_MAX;
    for (size_t i : order) {
      if (ranges[i].first == ranges[i].second) continue;
      if (prev != SIZE_MAX && ranges[i].first < ranges[prev].second)
        fail("tensors '" + printable(tensors_[prev].name) + "' and '" + printable(tensors_[i].name) +
             "' overlap (bytes " + std::to_string(ranges[prev].first) + ".." + std::to_string(ranges[prev].second) +
             " and " + std::to_string(ranges[i].first) + ".." + std::to_string(ranges[i].second) + ")");
      prev = i;
    }
    for (size_t i = 0; i < tensors_.size(); i++) index_[tensors_[i].name] = i;
  } catch (...) {
    ::munmap(map_, size_t(file_size_));
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_t(file_size_));
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (auto& t : tensors_) out.push_back(t.name);
  return out;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace sdvk
