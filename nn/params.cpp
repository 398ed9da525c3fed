#include "nn/params.h"

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

Tensor Params::get(const std::string& name, const Shape& shape) const {
  const std::string full = prefix_ + name;
  const TensorInfo& info = shared_->component.tensor(full);  // throws naming the component
  Shape found(info.shape.begin(), info.shape.end());
  if (shape_numel(found) != shape_numel(shape) || (found != shape && found.size() == shape.size()))
    throw Error(shared_->component.name + ": tensor " + full + " has shape " + shape_str(found) + ", expected " +
                shape_str(shape));
  if (auto it = shared_->uploaded_tensors.find(full); it != shared_->uploaded_tensors.end())
    return it->second.reshape(shape);
  Context& ctx = shared_->ctx;
  Tensor t = Tensor::empty(ctx, shape, shared_->dtype, shared_->component.name + "." + full);
  if (shared_->dtype == DType::F16) {
    std::vector<uint16_t> h = to_f16(info);
    t.upload_bytes(ctx, h.data(), h.size() * 2);
  } else {
    std::vector<float> f = to_f32(info);
    t.upload_bytes(ctx, f.data(), f.size() * 4);
  }
  // The device holds the weight now (or the staging ring does, until the next submission):
  // the file's pages leave the resident set, so the weights are not held twice.
  release_pages(info);
  shared_->uploaded += t.bytes();
  shared_->uploaded_tensors.emplace(full, t);
  return t;
}

}  // namespace sdvk::nn
