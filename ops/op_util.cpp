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

std::string describe(const Tensor& t) { return shape_str(t.shape()) + " " + dtype_name(t.dtype()); }

void check_size(const std::string& op, const Tensor& t) {
  check(t.numel() < (int64_t(1) << 31), op, shape_str(t.shape()) + " has 2^31 elements or more");
}

void check_alias(const std::string& op, const Tensor& x, const Tensor& y) {
  check(!x.overlaps(y) || (x.same_start(y) && x.shape() == y.shape() && x.dtype() == y.dtype()), op,
        "output " + shape_str(y.shape()) + " overlaps input " + shape_str(x.shape()) + " without being it");
}

bool vec4_ok(int64_t n, std::initializer_list<Tensor> ts) {
  bool ok = n % 4 == 0;
  for (const Tensor& t : ts) ok = ok && t.aligned_to(4 * dtype_bytes(t.dtype()));
  return ok;
}

bool compute_subgroups(const Context& ctx, uint32_t min_size, uint32_t max_size, uint32_t operations) {
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &sg;
  vkGetPhysicalDeviceProperties2(ctx.physical_device(), &props);
  return sg.subgroupSize >= min_size && sg.subgroupSize <= max_size && (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
         (sg.supportedOperations & operations) == operations;
}

}  // namespace sdvk::ops
