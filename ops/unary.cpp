#include "ops/unary.h"

#include <cmath>

#include "ops/op_util.h"

namespace sdvk::ops {

void unary(Sequence& s, Activation f, const Tensor& x, const Tensor& y) {
  check_same_shape("unary", x, y);
  check_same_dtype("unary", x, y);
  Context& ctx = s.context();
  const Kernel& k = ctx.kernels().get(variant(ctx, "unary", x.dtype()), 2, {uint32_t(f)});
  struct {
    uint32_t n;
  } push{uint32_t(x.numel())};
  check(x.numel() <= int64_t(UINT32_MAX), "unary", "more than 2^32 elements");
  s.dispatch(k, {in(x), out(y)}, push, {groups_for(x.numel(), 256), 1, 1}, "unary");
}

namespace ref {

float activation(Activation f, float xf) {
  double x = xf;
  switch (f) {
    case Activation::SiLU: return float(x / (1.0 + std::exp(-x)));
    case Activation::GeluErf: return float(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
    case Activation::QuickGelu: return float(x / (1.0 + std::exp(-1.702 * x)));
  }
  return 0;
}

std::vector<float> unary(Activation f, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i++) y[i] = activation(f, x[i]);
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
