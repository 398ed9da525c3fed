#include "ops/upsample_nearest.h"

#include <algorithm>
#include <cmath>

#include "ops/op_util.h"

namespace sdvk::ops {

namespace {
struct UpsamplePush {  // shaders/upsample_nearest.comp
  uint32_t n, w;
  uint32_t h = 0, h2 = 0, w2 = 0;
  float scale_h = 0, scale_w = 0;
};
}  // namespace

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
  UpsamplePush push{uint32_t(vec4 ? x.numel() / 4 : y.numel()), uint32_t(x.dim(3) / per)};
  s.dispatch(k, {in(x), out(y)}, push, {groups_for(push.n, 256), 1, 1}, "upsample_nearest2x");
}

void upsample_nearest(Sequence& s, const Tensor& x, const Tensor& y) {
  const std::string shapes = shape_str(x.shape()) + " -> " + shape_str(y.shape());
  check(x.ndim() == 4 && y.ndim() == 4 && y.dim(0) == x.dim(0) && y.dim(1) == x.dim(1), "upsample_nearest",
        "x and y must be [N,C,H,W] and [N,C,H2,W2], got " + shapes);
  check(x.dim(2) > 0 && x.dim(3) > 0, "upsample_nearest", "empty input: " + shapes);
  if (y.dim(2) == 2 * x.dim(2) && y.dim(3) == 2 * x.dim(3)) return upsample_nearest2x(s, x, y);
  check_same_dtype("upsample_nearest", x, y);
  check(y.numel() <= int64_t(UINT32_MAX), "upsample_nearest", "more than 2^32 elements: " + shapes);
  if (y.numel() == 0) return;
  Context& ctx = s.context();
  const Kernel& k = ctx.kernels().get(variant(ctx, "upsample_nearest", x.dtype()) + "_sized", 2);
  UpsamplePush push{uint32_t(y.numel()), uint32_t(x.dim(3)), uint32_t(x.dim(2)), uint32_t(y.dim(2)),
                    uint32_t(y.dim(3)), float(x.dim(2)) / float(y.dim(2)), float(x.dim(3)) / float(y.dim(3))};
  s.dispatch(k, {in(x), out(y)}, push, {groups_for(push.n, 256), 1, 1}, "upsample_nearest");
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

std::vector<float> upsample_nearest(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w,
                                    int64_t h2, int64_t w2) {
  std::vector<float> y(size_t(n * c * h2 * w2));
  const float sh = float(h) / float(h2), sw = float(w) / float(w2);  // float32, as PyTorch
  size_t i = 0;
  for (int64_t p = 0; p < n * c; p++)
    for (int64_t oy = 0; oy < h2; oy++)
      for (int64_t ox = 0; ox < w2; ox++) {
        int64_t sy = std::min(int64_t(std::floor(float(oy) * sh)), h - 1);
        int64_t sx = std::min(int64_t(std::floor(float(ox) * sw)), w - 1);
        y[i++] = x[size_t((p * h + sy) * w + sx)];
      }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
