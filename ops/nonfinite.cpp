#include "ops/nonfinite.h"

#include <cmath>

#include "ops/op_util.h"

namespace sdvk::ops {

namespace {
constexpr uint32_t kCountPerGroup = 256 * 16;  // nonfinite.comp: 256 invocations x 16 elements
}  // namespace

void nonfinite(Sequence& s, const Tensor& x, const Tensor& count) {
  check(count.shape() == Shape{1} && count.dtype() == DType::F32, "nonfinite",
        "count must be [1] F32, got " + describe(count));
  check_size("nonfinite", x);
  check(!x.overlaps(count), "nonfinite", "count overlaps x " + shape_str(x.shape()));
  Context& ctx = s.context();
  struct {
    uint32_t n;
  } p{uint32_t(x.numel())};
  // Zero, count as a uint, convert to float; the Sequence puts barriers between them.
  s.dispatch(ctx.kernels().get("nonfinite_zero", 1), {out(count)}, p, {1, 1, 1}, "nonfinite zero");
  bool vec4 = vec4_ok(x.numel(), {x});
  const Kernel& k = ctx.kernels().get(variant(ctx, "nonfinite", x.dtype()) + (vec4 ? "_vec4" : ""), 2);
  s.dispatch(k, {in(x), inout(count)}, p, {groups_for(x.numel(), kCountPerGroup), 1, 1}, "nonfinite");
  s.dispatch(ctx.kernels().get("nonfinite_finish", 1), {inout(count)}, p, {1, 1, 1}, "nonfinite finish");
}

uint64_t read_count(Context& ctx, const Tensor& count) {
  check(count.shape() == Shape{1} && count.dtype() == DType::F32, "read_count",
        "count must be [1] F32, got " + describe(count));
  return uint64_t(count.download(ctx).at(0));
}

namespace ref {

uint64_t nonfinite(const std::vector<float>& x) {
  uint64_t n = 0;
  for (float v : x) n += !std::isfinite(v);
  return n;
}

}  // namespace ref
}  // namespace sdvk::ops
