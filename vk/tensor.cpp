#include "vk/tensor.h"

#include <cstring>

#include "core/half.h"
#include "vk/context.h"
#include "vk/error.h"
#include "vk/transfer.h"

namespace sdvk {

const char* dtype_name(DType t) { return t == DType::F32 ? "float32" : "float16"; }

void floats_to_dtype(const std::vector<float>& values, DType dtype, void* dst) {
  if (dtype == DType::F32) {
    std::memcpy(dst, values.data(), values.size() * 4);
    return;
  }
  auto* h = static_cast<uint16_t*>(dst);
  for (size_t i = 0; i < values.size(); i++) h[i] = float_to_half(values[i]);
}

std::vector<float> dtype_to_floats(const void* src, size_t count, DType dtype) {
  std::vector<float> out(count);
  if (dtype == DType::F32) {
    std::memcpy(out.data(), src, count * 4);
    return out;
  }
  const auto* h = static_cast<const uint16_t*>(src);
  for (size_t i = 0; i < count; i++) out[i] = half_to_float(h[i]);
  return out;
}

Tensor Tensor::empty(Context& ctx, const Shape& shape, DType dtype, const std::string& name) {
  for (int64_t d : shape)
    if (d < 0) throw Error(name + ": negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  if (t.bytes() > ctx.info().max_storage_buffer_range)
    throw Error(name + " " + shape_str(shape) + " " + dtype_name(dtype) + " needs " +
                std::to_string(t.bytes()) + " bytes, more than this device can bind at once (" +
                std::to_string(ctx.info().max_storage_buffer_range) + "); use a smaller size or tiling");
  t.storage_ = std::make_shared<TensorStorage>();
  t.storage_->alloc = ctx.allocator().allocate(t.bytes(), MemoryKind::Device, name + " " + shape_str(shape));
  t.storage_->bytes = t.bytes();
  t.storage_->name = name;
  return t;
}

Tensor Tensor::planned(const Shape& shape, DType dtype, const std::string& name, const void* planner) {
  for (int64_t d : shape)
    if (d < 0) throw Error(name + ": negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<TensorStorage>();
  t.storage_->bytes = t.bytes();
  t.storage_->name = name;
  t.storage_->planner = planner;
  return t;
}

const std::string& Tensor::name() const {
  static const std::string none = "(undefined tensor)";
  return storage_ ? storage_->name : none;
}

void Tensor::require_placed() const {
  if (!storage_) throw Error("use of an undefined tensor");
  if (!storage_->alloc)
    throw Error("tensor " + storage_->name + " is a planned temporary: it has no memory until its sequence runs");
}

VkBuffer Tensor::buffer() const {
  require_placed();
  return storage_->alloc->buffer();
}

uint64_t Tensor::offset() const {
  require_placed();
  return storage_->alloc->offset() + storage_->offset + offset_;
}

Tensor Tensor::from_floats(Context& ctx, const Shape& shape, DType dtype, const std::vector<float>& values,
                           const std::string& name) {
  Tensor t = empty(ctx, shape, dtype, name);
  t.upload(ctx, values);
  return t;
}

bool Tensor::overlaps(const Tensor& o) const {
  if (!storage_ || !o.storage_) return false;
  if (storage_ == o.storage_)
    return offset_ < o.offset_ + o.bytes() && o.offset_ < offset_ + bytes();
  if (!placed() || !o.placed()) return false;
  return buffer() == o.buffer() && offset() < o.offset() + o.bytes() && o.offset() < offset() + bytes();
}

bool Tensor::same_start(const Tensor& o) const {
  if (!storage_ || !o.storage_) return false;
  if (storage_ == o.storage_) return offset_ == o.offset_;
  return placed() && o.placed() && buffer() == o.buffer() && offset() == o.offset();
}

bool Tensor::aligned_to(uint64_t n) const {
  if (n > 256) throw Error("aligned_to: at most 256 bytes can be known before placement");
  return placed() ? offset() % n == 0 : offset_ % n == 0;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape_numel(shape) != numel())
    throw Error("reshape " + shape_str(shape_) + " to " + shape_str(shape) + ": element counts differ");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::view(int64_t first, const Shape& shape, const Context& ctx) const {
  uint64_t off = uint64_t(first) * dtype_bytes(dtype_);
  if (first < 0 || first + shape_numel(shape) > numel())
    throw Error("view of " + std::to_string(shape_numel(shape)) + " elements at " + std::to_string(first) +
                " lies outside tensor " + shape_str(shape_));
  // Storages start 256-byte aligned (allocations and arena slots), so the view's alignment
  // follows from its offset in the storage.
  if ((offset_ + off) % ctx.info().min_storage_offset_alignment)
    throw Error("view at element " + std::to_string(first) + " is not aligned to " +
                std::to_string(ctx.info().min_storage_offset_alignment) + " bytes");
  Tensor t = *this;
  t.offset_ += off;
  t.shape_ = shape;
  return t;
}

void Tensor::upload_bytes(Context& ctx, const void* data, uint64_t n) const {
  if (n != bytes()) throw Error("upload of " + std::to_string(n) + " bytes into a tensor of " + std::to_string(bytes()));
  require_placed();
  if (uint8_t* p = storage_->alloc->mapped()) {
    std::memcpy(p + storage_->offset + offset_, data, n);
    return;
  }
  ctx.transfers().upload(data, buffer(), offset(), n);  // batched with the next submission
}

void Tensor::download_bytes(Context& ctx, void* data, uint64_t n) const {
  if (n != bytes()) throw Error("download of " + std::to_string(n) + " bytes from a tensor of " + std::to_string(bytes()));
  require_placed();
  if (const uint8_t* p = storage_->alloc->mapped()) {
    std::memcpy(data, p + storage_->offset + offset_, n);
    return;
  }
  ctx.transfers().download(buffer(), offset(), data, n);
}

void Tensor::upload(Context& ctx, const std::vector<float>& values) const {
  if (int64_t(values.size()) != numel())
    throw Error("upload of " + std::to_string(values.size()) + " values into tensor " + shape_str(shape_));
  if (dtype_ == DType::F32) return upload_bytes(ctx, values.data(), bytes());
  std::vector<uint16_t> h(values.size());
  for (size_t i = 0; i < h.size(); i++) h[i] = float_to_half(values[i]);
  upload_bytes(ctx, h.data(), bytes());
}

std::vector<float> Tensor::download(Context& ctx) const {
  std::vector<float> out(numel());
  if (dtype_ == DType::F32) {
    download_bytes(ctx, out.data(), bytes());
    return out;
  }
  std::vector<uint16_t> h(out.size());
  download_bytes(ctx, h.data(), bytes());
  for (size_t i = 0; i < h.size(); i++) out[i] = half_to_float(h[i]);
  return out;
}

}  // namespace sdvk
