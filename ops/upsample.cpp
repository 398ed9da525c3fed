#include "ops/upsample.h"

#include "ops/op_util.h"

namespace sdvk::ops {

void upsample_nearest2x(Sequence& s, const Tensor& x, const Tensor& y) {
  const std::string shapes = shape_str(x.shape()) + " -> " + shape_str(y.shape());
  check(x.ndim() == 4, "upsample_nearest2x", "x must be [N,C,H,W], got " + shapes);
  Shape want{x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)};
  check(y.shape() == want, "upsample_nearest2x", "y must be " + shape_str(want) + ", got " + shapes);
  check_same_dtype("upsample_nearest2x", x, y);
  check(y.numel() <= int64_t(UINT32_MAX), "upsample_nearest2x", "more than 2^32 elements: " + shapes);
  if (y.numel() == 0) return;

  Context& ctx = s.context();
  // Rows of a multiple of 4 elements (all SD shapes) take the 4-wide kernel.
  const bool vec4 = x.dim(3) % 4 == 0 && x.aligned_to(16) && y.aligned_to(16);
  const int64_t per = vec4 ? 4 : 1;
  const Kernel& k = ctx.kernels().get(variant(ctx, "upsample_nearest", x.dtype()) + (vec4 ? "_vec4" : ""), 2);
  struct {
    uint32_t n;  // invocations: elements of y, or 4-element groups of x
    uint32_t w;  // W of x, in elements or groups
  } push{uint32_t(vec4 ? x.numel() / 4 : y.numel()), uint32_t(x.dim(3) / per)};
  s.dispatch(k, {in(x), out(y)}, push, {groups_for(push.n, 256), 1, 1}, "upsample_nearest2x");
}

namespace ref {

std::vector<float> upsample_nearest2x(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<float> y(size_t(n * c * 4 * h * w));
  size_t i = 0;
  for (int64_t p = 0; p < n * c; p++)  // planes
    for (int64_t oy = 0; oy < 2 * h; oy++)
      for (int64_t ox = 0; ox < 2 * w; ox++) y[i++] = x[size_t((p * h + oy / 2) * w + ox / 2)];
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
