#include "ops/norm_rows.h"

#include <algorithm>

#include "ops/op_util.h"

namespace sdvk::ops::norm_rows {

const Kernel& row_kernel(Context& ctx, const std::string& op, const Tensor& x, int64_t row_len, uint32_t bindings,
                         std::vector<uint32_t> spec, const IterationCount& iterations) {
  const DeviceInfo& info = ctx.info();
  bool cpu = ctx.cpu_kernels() && info.subgroup_arithmetic && info.subgroup_size > 0;
  uint32_t wg = cpu ? info.subgroup_size : 256u;
  // GPU: a short row (77 tokens) gets the fewest invocations (at least 64) that cover it in one
  // iteration, rather than 256 mostly idling through the tree.
  while (!cpu && wg > 64 && 4 * int64_t(wg / 2) >= row_len) wg /= 2;
  uint32_t max_wg = std::min<uint32_t>(1024, info.max_workgroup_invocations);
  while (iterations(wg, cpu) > kMaxIterations && wg * 2 <= max_wg) wg *= 2;
  check(iterations(wg, cpu) <= kMaxIterations, op, "x " + shape_str(x.shape()) + ": rows too long for one workgroup");
  spec.insert(spec.begin(), wg);  // constant 0: the workgroup size
  return ctx.kernels().get(variant(ctx, cpu ? op + "_cpu" : op, x.dtype()), bindings, spec);
}

void check_rows(const std::string& op, const Tensor& x, const Tensor& y) {
  check_same_shape(op, x, y);
  check_same_dtype(op, x, y);
  check(x.numel() < (int64_t(1) << 31), op, "x " + shape_str(x.shape()) + " has 2^31 elements or more");
}

void check_affine(const std::string& op, const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t c) {
  for (const Tensor* t : {&gamma, &beta}) {
    check(t->shape() == Shape{c}, op,
          "x " + shape_str(x.shape()) + " needs gamma and beta [" + std::to_string(c) + "], got " +
              shape_str(gamma.shape()) + " and " + shape_str(beta.shape()));
    check_same_dtype(op, x, *t);
  }
}

}  // namespace sdvk::ops::norm_rows
