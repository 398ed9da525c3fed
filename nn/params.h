// Params: a network's weights uploaded to the device by their checkpoint names, strictly:
// a missing tensor or a shape other than the network expects is an Error naming both.
// Modules (nn/layers.h and the blocks built from them) fetch each weight in their load(), with
// its expected shape beside it:
//   Tensor w = p.get("conv_in.weight", {320, 4, 3, 3});
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>

#include "model/weights.h"
#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk::nn {

class Params {
 public:
  // Weights of `component`, stored on the device as `dtype` (float16 refuses tensors whose
  // values do not fit, naming them).
  Params(Context& ctx, const Component& component, DType dtype);

  // The same weights under "<prefix>." (e.g. p.at("down_blocks.0").at("resnets.1")).
  Params at(const std::string& prefix) const;

  // Uploaded on first use and kept while any Params of this component lives, so networks that
  // record a new Sequence per call (tiles, images) upload their weights once.
  Tensor get(const std::string& name, const Shape& shape) const;
  // A 2-d weight of checkpoint shape [rows, cols] (`shape`), uploaded transposed: [cols, rows].
  Tensor get_transposed(const std::string& name, const Shape& shape) const;
  bool has(const std::string& name) const;
  DType dtype() const { return shared_->dtype; }
  Context& context() const { return shared_->ctx; }
  // Device bytes of the weights uploaded so far.
  uint64_t uploaded_bytes() const { return shared_->uploaded; }

 private:
  struct Shared {
    Context& ctx;
    const Component& component;
    DType dtype;
    uint64_t uploaded = 0;
    std::map<std::string, Tensor> uploaded_tensors;  // by full name, "^T" added when transposed
  };
  Tensor upload(const std::string& name, const Shape& shape, bool transpose) const;
  std::shared_ptr<Shared> shared_;
  std::string prefix_;
};

}  // namespace sdvk::nn
