#include "ops/layer_norm.h"

#include "ops/norm_rows.h"
#include "ops/op_util.h"

namespace sdvk::ops {

using namespace norm_rows;

void layer_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, float eps) {
  const std::string op = "layer_norm";
  check(x.ndim() >= 1, op, "x " + shape_str(x.shape()) + " must be [..., C]");
  int64_t c = x.dim(-1);
  check_affine(op, x, gamma, beta, c);
  check_rows(op, x, y);
  if (x.numel() == 0) return;
  Context& ctx = s.context();
  auto iterations = [&](uint32_t wg, bool) { return 2 * blocks(c, wg) + 3; };  // statistics, output
  const Kernel& k = row_kernel(ctx, op, x, c, 4, {}, iterations);
  struct {
    uint32_t rows, c;
    float eps;
  } push{uint32_t(x.numel() / c), uint32_t(c), eps};
  s.dispatch(k, {in(x), in(gamma), in(beta), out(y)}, push, {push.rows, 1, 1}, op);
}

namespace ref {

std::vector<float> layer_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t c, float eps) {
  std::vector<float> y(x.size());
  for (size_t first = 0; first < x.size(); first += size_t(c))
    normalise(x, y, first, size_t(c), eps, gamma, beta, [](size_t i) { return i; }, false);
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
