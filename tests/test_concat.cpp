// Concatenation along any dim against its reference.
#include "core/error.h"
#include "ops/concat.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

struct ConcatCase {
  std::vector<Shape> inputs;
  int dim;
  DType dtype;
};

class ConcatTest : public test::VkTest, public ::testing::WithParamInterface<ConcatCase> {};

// A copy: exact in both storage types. Rows of whole 64-byte blocks take the block kernel
// (marked "block" below), others the per-element one.
TEST_P(ConcatTest, MatchesReferenceExactly) {
  auto& c = test::ctx();
  const auto& [shapes, dim, dtype] = GetParam();
  const size_t d = size_t(dim < 0 ? dim + int(shapes[0].size()) : dim);
  Shape ys = shapes[0];
  ys[d] = 0;
  std::vector<std::vector<float>> xs;
  std::vector<Tensor> txs;
  std::string what = "concat";
  for (size_t i = 0; i < shapes.size(); i++) {
    xs.push_back(test::random_stored(shape_numel(shapes[i]), uint32_t(100 + i), dtype));
    txs.push_back(Tensor::from_floats(c, shapes[i], dtype, xs.back()));
    ys[d] += shapes[i][d];
    what += " " + shape_str(shapes[i]);
  }
  Tensor ty = Tensor::empty(c, ys, dtype);
  Sequence s(c);
  concat(s, txs, dim, ty);
  s.run();
  test::expect_close(ty.download(c), ref::concat(xs, shapes, dim), 0.0,
                     what + " dim " + std::to_string(dim) + " " + dtype_name(dtype));
}

std::vector<ConcatCase> concat_cases() {
  std::vector<ConcatCase> cases;
  for (DType t : {DType::F32, DType::F16}) {
    cases.push_back({{{2, 32, 8, 8}, {2, 64, 8, 8}}, 1, t});               // UNet skip connection, block
    cases.push_back({{{2, 16, 4, 4}, {2, 16, 4, 4}, {2, 32, 4, 4}}, 1, t});  // three inputs, block
    cases.push_back({{{2, 8, 16}, {1, 8, 16}}, 0, t});                     // dim 0, block
    cases.push_back({{{1, 3, 5, 7}, {1, 1, 5, 7}, {1, 13, 5, 7}}, 1, t});  // three inputs
    cases.push_back({{{2, 3, 4}, {5, 3, 4}}, 0, t});                       // dim 0
    cases.push_back({{{3, 5, 7}, {3, 5, 1}, {3, 5, 13}}, -1, t});          // last dim, negative
    cases.push_back({{{2, 4, 13, 7}, {2, 4, 1, 7}}, 2, t});                // non-square, rows
    cases.push_back({{{1, 1, 1, 1}, {1, 127, 1, 1}}, 1, t});               // 1-element input
    cases.push_back({{{4, 9}}, 1, t});                                     // single input: a copy
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConcatTest, ::testing::ValuesIn(concat_cases()));

using Concat = test::VkTest;

TEST_F(Concat, WrongShapesThrow) {
  auto& c = test::ctx();
  Sequence s(c);
  auto f32 = [&](const Shape& sh) { return Tensor::empty(c, sh, DType::F32); };
  Tensor a = f32({2, 3, 4, 4}), b = f32({2, 5, 4, 4});
  EXPECT_THROW(concat(s, {a, f32({2, 5, 4, 3})}, 1, f32({2, 8, 4, 4})), Error);  // differs off dim
  EXPECT_THROW(concat(s, {a, f32({1, 5, 4, 4})}, 1, f32({2, 8, 4, 4})), Error);  // differs off dim
  EXPECT_THROW(concat(s, {a, b}, 1, f32({2, 9, 4, 4})), Error);                  // sizes do not sum
  EXPECT_THROW(concat(s, {a, b}, 4, f32({2, 8, 4, 4})), Error);                  // dim out of range
  EXPECT_THROW(concat(s, {a, f32({2, 5, 4})}, 1, f32({2, 8, 4, 4})), Error);     // rank differs
  EXPECT_THROW(concat(s, {}, 1, f32({2, 8, 4, 4})), Error);                      // no inputs
  EXPECT_THROW(concat(s, {a, Tensor::empty(c, {2, 5, 4, 4}, DType::F16)}, 1, f32({2, 8, 4, 4})), Error);
  EXPECT_EQ(s.dispatch_count(), 0u);
}

}  // namespace
