#include "nn/params.h"

#include <algorithm>

#include "core/error.h"
#include "model/tensor_convert.h"

namespace sdvk::nn {

Params::Params(Context& ctx, const Component& component, DType dtype)
    : shared_(std::make_shared<Shared>(Shared{ctx, component, dtype})) {}

Params Params::at(const std::string& prefix) const {
  Params p = *this;
  p.prefix_ = prefix_ + prefix + ".";
  return p;
}

bool Params::has(const std::string& name) const {
  return shared_->component.tensors.count(prefix_ + name) > 0;
}

namespace {

// [rows, cols] row-major -> [cols, rows], in 32x32 blocks that stay in cache (a UNet's
// linear weights are hundreds of MB).
template <typename T>
std::vector<T> transposed(const std::vector<T>& v, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 32;
  std::vector<T> t(v.size());
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); r++)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); c++) t[size_t(c * rows + r)] = v[size_t(r * cols + c)];
  return t;
}

}  // namespace

Tensor Params::get(const std::string& name, const Shape& shape) const { return upload(name, shape, false); }

Tensor Params::get_transposed(const std::string& name, const Shape& shape) const {
  if (shape.size() != 2) throw Error(shared_->component.name + ": " + prefix_ + name + ": transposed upload of a " +
                                     std::to_string(shape.size()) + "-d shape " + shape_str(shape));
  return upload(name, shape, true);
}

Tensor Params::upload(const std::string& name, const Shape& shape, bool transpose) const {
  const std::string full = prefix_ + name;
  const TensorInfo& info = shared_->component.tensor(full);  // throws naming the component
  Shape found(info.shape.begin(), info.shape.end());
  if (shape_numel(found) != shape_numel(shape) || (found != shape && found.size() == shape.size()))
    throw Error(shared_->component.name + ": tensor " + full + " has shape " + shape_str(found) + ", expected " +
                shape_str(shape));
  const Shape device_shape = transpose ? Shape{shape[1], shape[0]} : shape;
  const std::string key = transpose ? full + "^T" : full;
  if (auto it = shared_->uploaded_tensors.find(key); it != shared_->uploaded_tensors.end())
    return it->second.reshape(device_shape);
  Context& ctx = shared_->ctx;
  Tensor t = Tensor::empty(ctx, device_shape, shared_->dtype, shared_->component.name + "." + key);
  if (shared_->dtype == DType::F16) {
    std::vector<uint16_t> h = to_f16(info);
    if (transpose) h = transposed(h, shape[0], shape[1]);
    t.upload_bytes(ctx, h.data(), h.size() * 2);
  } else {
    std::vector<float> f = to_f32(info);
    if (transpose) f = transposed(f, shape[0], shape[1]);
    t.upload_bytes(ctx, f.data(), f.size() * 4);
  }
  // The device holds the weight now (or the staging ring does, until the next submission):
  // the file's pages leave the resident set, so the weights are not held twice.
  release_pages(info);
  shared_->uploaded += t.bytes();
  shared_->uploaded_tensors.emplace(key, t);
  return t;
}

}  // namespace sdvk::nn
