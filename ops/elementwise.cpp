#include "ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op_util.h"

namespace sdvk::ops {

namespace {

constexpr int kMaxDims = 6;
constexpr uint32_t kCountPerGroup = 256 * 16;  // nonfinite.comp: 256 invocations x 16 elements
// Indices are uint32 in the shaders and binary.comp's division needs them below 2^31.
constexpr int64_t kMaxElements = int64_t(1) << 31;

void check_size(const std::string& op, const Tensor& t) {
  check(t.numel() < kMaxElements, op, shape_str(t.shape()) + " has 2^31 elements or more");
}

std::string describe(const Tensor& t) { return shape_str(t.shape()) + " " + dtype_name(t.dtype()); }

bool overlaps(const Tensor& x, const Tensor& y) {
  return x.overlaps(y);
}

// y may be one of the inputs exactly (same bytes, shape and dtype), but not overlap one
// otherwise: the shaders read each input element before writing the same index of y only.
void check_alias(const std::string& op, const Tensor& x, const Tensor& y) {
  check(!overlaps(x, y) || (x.same_start(y) && x.shape() == y.shape() && x.dtype() == y.dtype()), op,
        "output " + shape_str(y.shape()) + " overlaps input " + shape_str(x.shape()) + " without being it");
}

// The *_vec4 kernels move 4 elements per access: n a multiple of 4 (for binary, the innermost
// collapsed dim) and every tensor starting on a 4-element boundary (so far always true: views
// are aligned to the device's minimum storage offset, 16 bytes or more on common devices).
bool vec4_ok(int64_t n, std::initializer_list<Tensor> ts) {
  bool ok = n % 4 == 0;
  for (const Tensor& t : ts) ok = ok && t.aligned_to(4 * dtype_bytes(t.dtype()));
  return ok;
}

// binary.comp's push constants: the broadcast as up to 6 collapsed dims, outermost first.
struct BinaryPush {
  uint32_t n;
  uint32_t dim[kMaxDims];
  uint32_t sa[kMaxDims], sb[kMaxDims];  // element strides of a and b, 0 along broadcast dims
  uint32_t magic[kMaxDims], shift[kMaxDims];  // division by dim[d], see set_divider
};

// Division by a constant d as a multiply (the round-up method of Granlund and Montgomery, as in
// PyTorch's IntDivider): with s = ceil(log2 d) and m = floor(2^32 (2^s - d) / d) + 1,
// r / d == (umulhi(r, m) + r) >> s for all r < 2^31. A GPU's integer division is a long
// instruction sequence and lavapipe's is scalar per SIMD lane.
void set_divider(BinaryPush& p, int d) {
  uint64_t s = 0;
  while ((uint64_t(1) << s) < p.dim[d]) s++;
  p.magic[d] = uint32_t((((uint64_t(1) << s) - p.dim[d]) << 32) / p.dim[d] + 1);
  p.shift[d] = uint32_t(s);
}

// Drops size-1 dims and merges neighbours that both operands walk contiguously (or both
// broadcast), so [2,320,64,64] + [2,320,1,1] becomes dims [640,4096], strides a [4096,1],
// b [1,0], and equal shapes become one dim. Returns the number of dims kept (>= 1).
int collapse(const Shape& ys, const Shape& as, const Shape& bs, BinaryPush& p) {
  int r = int(ys.size());
  auto strides = [&](const Shape& s) {  // s aligned to the right of ys; 0 where broadcast
    std::vector<int64_t> st(size_t(r), 0);
    int64_t step = 1;
    for (int d = r - 1, k = int(s.size()) - 1; k >= 0; d--, k--) {
      if (s[size_t(k)] != 1) st[size_t(d)] = step;
      step *= s[size_t(k)];
    }
    return st;
  };
  std::vector<int64_t> sa = strides(as), sb = strides(bs);
  int nd = 0;
  for (int d = 0; d < r; d++) {
    if (ys[size_t(d)] == 1) continue;
    uint32_t len = uint32_t(ys[size_t(d)]);
    if (nd > 0 && p.sa[nd - 1] == sa[size_t(d)] * len && p.sb[nd - 1] == sb[size_t(d)] * len) {
      p.dim[nd - 1] *= len;
    } else {
      nd++;
      p.dim[nd - 1] = len;
    }
    p.sa[nd - 1] = uint32_t(sa[size_t(d)]);
    p.sb[nd - 1] = uint32_t(sb[size_t(d)]);
  }
  if (nd == 0) {  // every dim is 1: a single element
    nd = 1;
    p.dim[0] = 1;
    p.sa[0] = p.sb[0] = 0;
  }
  for (int d = 0; d < nd; d++) set_divider(p, d);
  return nd;
}

}  // namespace

Shape broadcast_shape(const std::string& op, const Shape& a, const Shape& b) {
  Shape y(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < y.size(); i++) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1, db = i < b.size() ? b[b.size() - 1 - i] : 1;
    check(da == db || da == 1 || db == 1, op, "shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    y[y.size() - 1 - i] = da == 1 ? db : da;
  }
  return y;
}

void binary(Sequence& s, BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& y) {
  auto args = [&] { return "a " + describe(a) + ", b " + describe(b) + ", y " + describe(y); };
  check(a.dtype() == b.dtype() && a.dtype() == y.dtype(), "binary", "storage types differ: " + args());
  check(a.ndim() <= kMaxDims && b.ndim() <= kMaxDims, "binary", "more than 6 dims: " + args());
  Shape ys = broadcast_shape("binary", a.shape(), b.shape());
  check(y.shape() == ys, "binary", "y is not the broadcast shape " + shape_str(ys) + ": " + args());
  check_size("binary", y);
  check_alias("binary", a, y);
  check_alias("binary", b, y);
  if (y.numel() == 0) return;

  BinaryPush p{};
  p.n = uint32_t(y.numel());
  int nd = collapse(ys, a.shape(), b.shape(), p);
  bool vec4 = vec4_ok(p.dim[nd - 1], {a, b, y});
  Context& ctx = s.context();
  std::string name = variant(ctx, "binary", a.dtype()) + (vec4 ? "_vec4" : "");
  const Kernel& k = ctx.kernels().get(name, 3, {uint32_t(op), uint32_t(nd), p.sa[nd - 1], p.sb[nd - 1]});
  s.dispatch(k, {in(a), in(b), out(y)}, p, {groups_for(y.numel(), vec4 ? 1024 : 256), 1, 1}, "binary");
}

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

void nonfinite(Sequence& s, const Tensor& x, const Tensor& count) {
  check(count.shape() == Shape{1} && count.dtype() == DType::F32, "nonfinite",
        "count must be [1] F32, got " + describe(count));
  check_size("nonfinite", x);
  check(!overlaps(x, count), "nonfinite", "count overlaps x " + shape_str(x.shape()));
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

std::vector<float> binary(BinaryOp op, const std::vector<float>& a, const Shape& as, const std::vector<float>& b,
                          const Shape& bs) {
  Shape ys = broadcast_shape("ref::binary", as, bs);
  size_t r = ys.size();
  // Each operand's shape padded on the left with 1s to rank r.
  Shape ap(r - as.size(), 1), bp(r - bs.size(), 1);
  ap.insert(ap.end(), as.begin(), as.end());
  bp.insert(bp.end(), bs.begin(), bs.end());
  std::vector<float> y(size_t(shape_numel(ys)));
  std::vector<int64_t> idx(r, 0);  // coordinates of y[i]
  for (size_t i = 0; i < y.size(); i++) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < r; d++) {
      ia = ia * ap[d] + (ap[d] == 1 ? 0 : idx[d]);
      ib = ib * bp[d] + (bp[d] == 1 ? 0 : idx[d]);
    }
    double u = a[size_t(ia)], v = b[size_t(ib)];
    y[i] = float(op == BinaryOp::Add ? u + v : op == BinaryOp::Sub ? u - v : u * v);
    for (size_t d = r; d-- > 0;) {  // next coordinates
      if (++idx[d] < ys[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

std::vector<float> scale(const std::vector<float>& x, float alpha, float beta) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i++) y[i] = float(double(alpha) * x[i] + beta);
  return y;
}

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

uint64_t nonfinite(const std::vector<float>& x) {
  uint64_t n = 0;
  for (float v : x) n += !std::isfinite(v);
  return n;
}

}  // namespace ref
}  // namespace sdvk::ops
