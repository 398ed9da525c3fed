#include "ops/embedding.h"

#include <cmath>
#include <limits>

#include "ops/op_util.h"

namespace sdvk::ops {

void embedding(Sequence& s, const Tensor& ids, const Tensor& table, const Tensor& y) {
  check(ids.dtype() == DType::F32, "embedding", "ids must be float32");
  check(table.ndim() == 2, "embedding", "table must be [vocab, width], got " + shape_str(table.shape()));
  check(table.dim(0) < (1 << 24), "embedding", "vocabulary over 2^24 rows");
  Shape want = ids.shape();
  want.push_back(table.dim(1));
  check(y.shape() == want, "embedding", "output " + shape_str(y.shape()) + " should be " + shape_str(want));
  check_same_dtype("embedding", table, y);
  check(y.numel() <= int64_t(UINT32_MAX), "embedding", "more than 2^32 elements");
  struct {
    uint32_t rows, width, vocab;
  } push{uint32_t(ids.numel()), uint32_t(table.dim(1)), uint32_t(table.dim(0))};
  Context& ctx = s.context();
  const Kernel& k = ctx.kernels().get(variant(ctx, "embedding", table.dtype()), 3);
  s.dispatch(k, {in(ids), in(table), out(y)}, push, {groups_for(y.numel(), 256), 1, 1}, "embedding");
}

namespace ref {

std::vector<float> embedding(const std::vector<float>& ids, const std::vector<float>& table, int64_t width) {
  int64_t vocab = int64_t(table.size()) / width;
  std::vector<float> y;
  for (float id : ids) {
    bool ok = id >= 0 && id < float(vocab) && id == std::floor(id);
    for (int64_t c = 0; c < width; c++)
      y.push_back(ok ? table[size_t(int64_t(id) * width + c)] : std::numeric_limits<float>::quiet_NaN());
  }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
