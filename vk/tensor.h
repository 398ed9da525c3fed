// Tensor: a range of a device buffer with a shape and a storage type. Contiguous, row-major
// (NCHW for images, [B,T,C] for sequences, as in the checkpoints). A view shares the bytes.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/shape.h"
#include "vk/memory.h"

namespace sdvk {

class Context;

enum class DType { F32, F16 };
inline uint64_t dtype_bytes(DType t) { return t == DType::F32 ? 4 : 2; }
const char* dtype_name(DType t);

// Host floats <-> the bytes of `dtype` (float16 rounds to nearest even).
void floats_to_dtype(const std::vector<float>& values, DType dtype, void* dst);
std::vector<float> dtype_to_floats(const void* src, size_t count, DType dtype);

// The bytes behind a tensor and its views: an allocation of its own, or a slot in a Sequence's
// arena that the sequence places by liveness when it is first run (a "planned temporary").
struct TensorStorage {
  std::shared_ptr<Allocation> alloc;  // null for a planned temporary not yet placed
  uint64_t offset = 0;                // bytes from the allocation's start
  uint64_t bytes = 0;
  std::string name;
  const void* planner = nullptr;  // the Sequence that places it (planned temporaries only)
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised device tensor. `name` appears in out-of-memory messages.
  static Tensor empty(Context& ctx, const Shape& shape, DType dtype, const std::string& name = "tensor");
  // Device tensor holding `values` (converted to dtype; float16 rounds to nearest even).
  static Tensor from_floats(Context& ctx, const Shape& shape, DType dtype, const std::vector<float>& values,
                            const std::string& name = "tensor");

  // A tensor whose bytes a Sequence will place (see Sequence::temp).
  static Tensor planned(const Shape& shape, DType dtype, const std::string& name, const void* planner);

  bool defined() const { return storage_ != nullptr; }
  bool placed() const { return storage_ && storage_->alloc; }
  const std::shared_ptr<TensorStorage>& storage() const { return storage_; }
  const std::string& name() const;
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i < 0 ? shape_.size() + i : i]; }
  int ndim() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  uint64_t bytes() const { return uint64_t(numel()) * dtype_bytes(dtype_); }

  // Where the data lies: buffer, byte offset in it. Throws Error for a planned temporary
  // before its sequence has run.
  VkBuffer buffer() const;
  uint64_t offset() const;
  uint64_t offset_in_storage() const { return offset_; }

  // Whether this and `other` may share bytes: the same storage with intersecting ranges, or
  // placed tensors with intersecting buffer ranges. Distinct planned temporaries never share
  // bytes within one dispatch (both are alive there), so they do not overlap.
  bool overlaps(const Tensor& other) const;
  // Whether both start at the same byte.
  bool same_start(const Tensor& other) const;
  // Whether the first byte's offset is a multiple of `bytes` (<= 256), as vector loads need.
  // Known before placement too: storages and arena slots start 256-byte aligned.
  bool aligned_to(uint64_t bytes) const;

  // The same bytes with another shape of equal element count.
  Tensor reshape(const Shape& shape) const;
  // `numel(shape)` elements starting at element `first`; the byte offset must meet the
  // device's storage-buffer alignment (throws Error otherwise).
  Tensor view(int64_t first, const Shape& shape, const Context& ctx) const;

  void upload(Context& ctx, const std::vector<float>& values) const;  // converts to dtype
  std::vector<float> download(Context& ctx) const;                     // converts to float
  void upload_bytes(Context& ctx, const void* data, uint64_t bytes) const;
  void download_bytes(Context& ctx, void* data, uint64_t bytes) const;

 private:
  void require_placed() const;
  std::shared_ptr<TensorStorage> storage_;
  uint64_t offset_ = 0;  // bytes from the storage's start (views)
  Shape shape_;
  DType dtype_ = DType::F32;
};

}  // namespace sdvk
