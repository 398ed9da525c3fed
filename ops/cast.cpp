#include "ops/cast.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ops/op_util.h"

namespace sdvk::ops {

void cast(Sequence& s, const Tensor& x, const Tensor& y) {
  check_same_shape("cast", x, y);
  check_size("cast", x);
  check_alias("cast", x, y);
  Context& ctx = s.context();
  variant(ctx, "cast", x.dtype());  // these throw without float16 storage
  variant(ctx, "cast", y.dtype());
  auto tag = [](DType t) { return t == DType::F32 ? "f32" : "f16"; };
  bool vec4 = vec4_ok(x.numel(), {x, y});
  std::string name = std::string("cast_") + tag(x.dtype()) + "_" + tag(y.dtype()) + (vec4 ? "_vec4" : "");
  const Kernel& k = ctx.kernels().get(name, 2);
  struct {
    uint32_t n;
  } p{uint32_t(x.numel())};
  s.dispatch(k, {in(x), out(y)}, p, {groups_for(x.numel(), vec4 ? 1024 : 256), 1, 1}, "cast");
}

namespace ref {

float to_half(float x) {
  if (std::isnan(x) || x == 0) return x;
  double m = std::fabs(double(x));
  // 65520 lies halfway between 65504 and 2^16 (not a float16) and rounds to even: Inf.
  if (m >= 65520.0) return std::copysign(std::numeric_limits<float>::infinity(), x);
  // float16 spacing near m: 2^(e-10) for the exponent e of m, 2^-24 below the normals (e < -14).
  int e = std::max(std::ilogb(m), -14);
  double ulp = std::ldexp(1.0, e - 10);
  return float(std::copysign(std::nearbyint(m / ulp) * ulp, double(x)));  // nearbyint: ties to even
}

}  // namespace ref
}  // namespace sdvk::ops
