#include "ops/op_util.h"

namespace sdvk::ops {

std::string variant(const Context& ctx, const std::string& shader, DType dtype) {
  if (dtype == DType::F16 && !ctx.info().fp16_storage)
    throw Error(shader + ": this device has no 16-bit storage buffers; store float32 instead");
  return shader + (dtype == DType::F16 ? "_f16" : "_f32");
}

void check(bool ok, const std::string& op, const std::string& problem) {
  if (!ok) throw Error(op + ": " + problem);
}

void check_same_dtype(const std::string& op, const Tensor& a, const Tensor& b) {
  check(a.dtype() == b.dtype(), op,
        std::string("storage types differ (") + dtype_name(a.dtype()) + " vs " + dtype_name(b.dtype()) + ")");
}

void check_same_shape(const std::string& op, const Tensor& a, const Tensor& b) {
  check(a.shape() == b.shape(), op, "shapes differ (" + shape_str(a.shape()) + " vs " + shape_str(b.shape()) + ")");
}

}  // namespace sdvk::ops
