#include "ops/geglu.h"

#include <cmath>

#include "ops/op_util.h"

namespace sdvk::ops {

void geglu(Sequence& s, const Tensor& x, const Tensor& y) {
  const std::string shapes = shape_str(x.shape()) + " -> " + shape_str(y.shape());
  check(x.ndim() >= 1 && x.ndim() == y.ndim(), "geglu", "x and y need the same rank >= 1, got " + shapes);
  check(x.dim(-1) % 2 == 0, "geglu", "last dimension of x must be even (hidden, gate), got " + shapes);
  Shape want = x.shape();
  want.back() /= 2;
  check(y.shape() == want, "geglu", "y must be " + shape_str(want) + ", got " + shapes);
  check_same_dtype("geglu", x, y);
  check(x.numel() <= int64_t(UINT32_MAX), "geglu", "more than 2^32 elements: " + shapes);
  if (y.numel() == 0) return;

  Context& ctx = s.context();
  const Kernel& k = ctx.kernels().get(variant(ctx, "geglu", x.dtype()), 2);
  struct {
    uint32_t n;     // elements of y
    uint32_t cols;  // N: width of one output row
  } push{uint32_t(y.numel()), uint32_t(y.dim(-1))};
  s.dispatch(k, {in(x), out(y)}, push, {groups_for(y.numel(), 256), 1, 1}, "geglu");
}

namespace ref {

std::vector<float> geglu(const std::vector<float>& x, int64_t n) {
  size_t rows = x.size() / size_t(2 * n);
  std::vector<float> y(rows * size_t(n));
  for (size_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < n; c++) {
      double hidden = x[r * size_t(2 * n) + size_t(c)];
      double gate = x[r * size_t(2 * n) + size_t(n + c)];
      double gelu = 0.5 * gate * (1.0 + std::erf(gate / std::sqrt(2.0)));
      y[r * size_t(n) + size_t(c)] = float(hidden * gelu);
    }
  }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
