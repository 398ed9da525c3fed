#include "ops/concat.h"

#include "ops/op_util.h"

namespace sdvk::ops {
namespace {

std::string shapes_str(const std::vector<Tensor>& inputs, const Tensor& y) {
  std::string s;
  for (size_t i = 0; i < inputs.size(); i++) s += (i ? " + " : "") + shape_str(inputs[i].shape());
  return s + " -> " + shape_str(y.shape());
}

int64_t product(const Shape& s, int begin, int end) {
  int64_t p = 1;
  for (int i = begin; i < end; i++) p *= s[size_t(i)];
  return p;
}

}  // namespace

void concat(Sequence& s, const std::vector<Tensor>& inputs, int dim, const Tensor& y) {
  const std::string shapes = shapes_str(inputs, y) + " on dim " + std::to_string(dim);
  check(!inputs.empty(), "concat", "needs at least one input");
  const int rank = y.ndim();
  check(dim >= -rank && dim < rank, "concat", "dim out of range: " + shapes);
  if (dim < 0) dim += rank;
  int64_t total = 0;
  for (const Tensor& t : inputs) {
    check(t.ndim() == rank, "concat", "inputs and output need the same rank: " + shapes);
    check_same_dtype("concat", t, y);
    for (int d = 0; d < rank; d++)
      check(d == dim || t.dim(d) == y.dim(d), "concat", "shapes differ off the concat dim: " + shapes);
    total += t.dim(dim);
  }
  check(total == y.dim(dim), "concat", "input sizes along dim do not sum to the output's: " + shapes);
  check(y.numel() <= int64_t(UINT32_MAX), "concat", "more than 2^32 elements: " + shapes);

  // View every tensor as [outer, size(dim) * inner]: each input fills a column block of y.
  // When all rows and column offsets are whole 64-byte blocks (every SD shape), copy blocks.
  Context& ctx = s.context();
  const int64_t inner = product(y.shape(), dim + 1, rank);
  const int64_t ebytes = int64_t(dtype_bytes(y.dtype()));
  bool blocks = (y.dim(dim) * inner * ebytes) % 64 == 0 && y.aligned_to(16);
  for (const Tensor& t : inputs) blocks = blocks && (t.dim(dim) * inner * ebytes) % 64 == 0 && t.aligned_to(16);
  const int64_t per = blocks ? 64 / ebytes : 1;  // elements per invocation
  const Kernel& k = ctx.kernels().get(blocks ? "concat_block" : variant(ctx, "concat", y.dtype()), 2);

  int64_t first = 0;  // y's column where the current input starts
  for (const Tensor& t : inputs) {
    const int64_t cols = t.dim(dim) * inner;
    if (t.numel() > 0) {
      struct {
        uint32_t n;        // elements (or blocks) of this input
        uint32_t cols;     // its row width
        uint32_t y_cols;   // y's row width
        uint32_t y_first;  // column of y where it starts
      } push{uint32_t(t.numel() / per), uint32_t(cols / per), uint32_t(y.dim(dim) * inner / per),
             uint32_t(first / per)};
      // Each dispatch writes a disjoint block of y, but the Sequence tracks whole tensors and
      // places a barrier between them: cheap next to the copy itself.
      s.dispatch(k, {in(t), out(y)}, push, {groups_for(push.n, 256), 1, 1}, "concat");
    }
    first += cols;
  }
}

namespace ref {

std::vector<float> concat(const std::vector<std::vector<float>>& inputs, const std::vector<Shape>& shapes, int dim) {
  const int rank = int(shapes[0].size());
  if (dim < 0) dim += rank;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; d++) outer *= shapes[0][size_t(d)];
  for (int d = dim + 1; d < rank; d++) inner *= shapes[0][size_t(d)];
  std::vector<float> y;
  for (int64_t o = 0; o < outer; o++)  // for each outer index, append each input's slab
    for (size_t i = 0; i < inputs.size(); i++) {
      int64_t slab = shapes[i][size_t(dim)] * inner;
      y.insert(y.end(), inputs[i].begin() + o * slab, inputs[i].begin() + (o + 1) * slab);
    }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
