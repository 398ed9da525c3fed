#include "ops/permute.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "ops/op_util.h"

namespace sdvk::ops {
namespace {

// Strides of a contiguous row-major shape.
std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int d = int(s.size()) - 2; d >= 0; d--) st[d] = st[d + 1] * s[d + 1];
  return st;
}

void check_perm(const Shape& x, const std::vector<int>& perm) {
  std::vector<int> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool ok = perm.size() == x.size() && x.size() <= 4;
  for (size_t i = 0; ok && i < sorted.size(); i++) ok = sorted[i] == int(i);
  check(ok, "permute", "permutation does not fit input " + shape_str(x) + " (at most 4 dims)");
}

struct Transpose {
  int64_t batch, rows, cols;  // [batch, rows, cols] -> [batch, cols, rows]
};

// The permutation as a batched transpose, if it is one: size-1 dims dropped, output dims that
// are consecutive input dims merged, what is left must be (batch, B, A) from input (batch, A, B)
// or (B, A) from (A, B). NCHW <-> NHWC, the networks' permutes, all are.
std::optional<Transpose> as_transpose(const Shape& x, const std::vector<int>& perm) {
  std::vector<std::pair<int, int64_t>> runs;  // in output order: first input dim, merged size
  int last = -2;
  for (int d : perm) {
    if (x[d] == 1) continue;
    if (d == last + 1)
      runs.back().second *= x[d];
    else
      runs.push_back({d, x[d]});
    last = d;
  }
  if (runs.size() == 2 && runs[0].first > runs[1].first) return Transpose{1, runs[1].second, runs[0].second};
  if (runs.size() == 3 && runs[0].first < runs[2].first && runs[2].first < runs[1].first)
    return Transpose{runs[0].second, runs[2].second, runs[1].second};
  return std::nullopt;
}

}  // namespace

Shape permuted_shape(const Shape& x, const std::vector<int>& perm) {
  check_perm(x, perm);
  Shape out(x.size());
  for (size_t d = 0; d < perm.size(); d++) out[d] = x[perm[d]];
  return out;
}

void permute(Sequence& s, const Tensor& x, const std::vector<int>& perm, const Tensor& y) {
  Shape want = permuted_shape(x.shape(), perm);
  check(y.shape() == want, "permute", "output " + shape_str(y.shape()) + " should be " + shape_str(want));
  check_same_dtype("permute", x, y);
  check(x.numel() <= int64_t(UINT32_MAX), "permute", "more than 2^32 elements");
  Context& ctx = s.context();
  if (auto t = as_transpose(x.shape(), perm)) {
    struct {
      uint32_t batch, rows, cols;
    } push{uint32_t(t->batch), uint32_t(t->rows), uint32_t(t->cols)};
    const Kernel& k = ctx.kernels().get(variant(ctx, "permute_tiled", x.dtype()), 2);
    s.dispatch(k, {in(x), out(y)}, push, {groups_for(t->cols, 32), groups_for(t->rows, 32), push.batch}, "permute");
    return;
  }
  struct {
    uint32_t n, shape[4], src_stride[4];
  } push{};
  push.n = uint32_t(x.numel());
  auto st = strides_of(x.shape());
  int pad = 4 - int(perm.size());
  for (int d = 0; d < 4; d++) {
    push.shape[d] = d < pad ? 1 : uint32_t(want[d - pad]);
    push.src_stride[d] = d < pad ? 0 : uint32_t(st[perm[d - pad]]);
  }
  const Kernel& k = ctx.kernels().get(variant(ctx, "permute", x.dtype()), 2);
  s.dispatch(k, {in(x), out(y)}, push, {groups_for(x.numel(), 256), 1, 1}, "permute");
}

namespace ref {

std::vector<float> permute(const std::vector<float>& x, const Shape& shape, const std::vector<int>& perm) {
  Shape out_shape = permuted_shape(shape, perm);
  auto in_st = strides_of(shape);
  std::vector<float> y(x.size());
  std::vector<int64_t> idx(shape.size(), 0);  // output multi-index
  for (size_t i = 0; i < y.size(); i++) {
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); d++) src += idx[d] * in_st[perm[d]];
    y[i] = x[size_t(src)];
    for (int d = int(idx.size()) - 1; d >= 0; d--) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
