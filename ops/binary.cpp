#include "ops/binary.h"

#include <algorithm>

#include "ops/op_util.h"

namespace sdvk::ops {

namespace {

constexpr int kMaxDims = 6;

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

}  // namespace ref
}  // namespace sdvk::ops
