#include "ops/softmax.h"

#include <algorithm>
#include <cmath>

#include "ops/norm_rows.h"
#include "ops/op_util.h"

namespace sdvk::ops {

using namespace norm_rows;

void softmax(Sequence& s, const Tensor& x, const Tensor& y, float scale) {
  const std::string op = "softmax";
  check(x.ndim() >= 1, op, "x " + shape_str(x.shape()) + " must be [..., L]");
  check_rows(op, x, y);
  if (x.numel() == 0) return;
  Context& ctx = s.context();
  auto iterations = [&](uint32_t wg, bool) { return 3 * blocks(x.dim(-1), wg); };  // max, sum, output
  const Kernel& k = row_kernel(ctx, op, x, x.dim(-1), 2, {}, iterations);
  struct {
    uint32_t rows, l;
    float scale;
  } push{uint32_t(x.numel() / x.dim(-1)), uint32_t(x.dim(-1)), scale};
  s.dispatch(k, {in(x), out(y)}, push, {push.rows, 1, 1}, op);
}

namespace ref {

std::vector<float> softmax(const std::vector<float>& x, int64_t l, float scale) {
  std::vector<float> y(x.size());
  for (size_t first = 0; first < x.size(); first += size_t(l)) {
    double m = -INFINITY, sum = 0;
    for (size_t i = 0; i < size_t(l); i++) m = std::max(m, double(scale) * x[first + i]);
    for (size_t i = 0; i < size_t(l); i++) sum += std::exp(double(scale) * x[first + i] - m);
    for (size_t i = 0; i < size_t(l); i++) y[first + i] = float(std::exp(double(scale) * x[first + i] - m) / sum);
  }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
