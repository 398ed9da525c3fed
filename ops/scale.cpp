#include "ops/scale.h"

#include "ops/op_util.h"

namespace sdvk::ops {

void scale(Sequence& s, const Tensor& x, const Tensor& y, float alpha, float beta) {
  check_same_shape("scale", x, y);
  check_same_dtype("scale", x, y);
  check_size("scale", x);
  check_alias("scale", x, y);
  Context& ctx = s.context();
  bool vec4 = vec4_ok(x.numel(), {x, y});
  const Kernel& k = ctx.kernels().get(variant(ctx, "scale", x.dtype()) + (vec4 ? "_vec4" : ""), 2);
  struct {
    uint32_t n;
    float alpha, beta;
  } p{uint32_t(x.numel()), alpha, beta};
  s.dispatch(k, {in(x), out(y)}, p, {groups_for(x.numel(), vec4 ? 1024 : 256), 1, 1}, "scale");
}

namespace ref {

std::vector<float> scale(const std::vector<float>& x, float alpha, float beta) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i++) y[i] = float(double(alpha) * x[i] + beta);
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
