#include "ops/binary.h"


#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Binary = test::VkTest;

std::string name_of(const Shape& a, const Shape& b, DType t) {
  return shape_str(a) + "," + shape_str(b) + " " + dtype_name(t);
}

struct BinaryCase {
  BinaryOp op;
  Shape a, b;
};
void PrintTo(const BinaryCase& c, std::ostream* os) { *os << int(c.op) << " " << shape_str(c.a) << shape_str(c.b); }

class BinaryTest : public test::VkTest, public ::testing::WithParamInterface<BinaryCase> {};

void run_binary(const BinaryCase& c, DType dtype, double tol) {
  auto& ctx = test::ctx();
  auto a = test::random_vector(size_t(shape_numel(c.a)), 11, -2.0f, 2.0f);
  auto b = test::random_vector(size_t(shape_numel(c.b)), 12, -2.0f, 2.0f);
  if (dtype == DType::F16) a = test::round_to_half(a), b = test::round_to_half(b);
  Shape ys = broadcast_shape("test", c.a, c.b);
  Tensor ta = Tensor::from_floats(ctx, c.a, dtype, a), tb = Tensor::from_floats(ctx, c.b, dtype, b);
  Tensor ty = Tensor::empty(ctx, ys, dtype);
  Sequence s(ctx);
  binary(s, c.op, ta, tb, ty);
  s.run();
  test::expect_close(ty.download(ctx), ref::binary(c.op, a, c.a, b, c.b), tol, "binary " + name_of(c.a, c.b, dtype));
}

TEST_P(BinaryTest, Float32MatchesReference) { run_binary(GetParam(), DType::F32, 1e-4); }

// float16 storage: inputs are float16 values, the float32 result is rounded once to float16:
// error <= 2^-11 of the value, so <= 4.9e-4 of max |ref|.
TEST_P(BinaryTest, Float16MatchesReference) { run_binary(GetParam(), DType::F16, 1e-3); }

// Innermost (collapsed) dim a multiple of 4: the 4-per-invocation kernel, else the scalar one.
INSTANTIATE_TEST_SUITE_P(
    Shapes, BinaryTest,
    ::testing::Values(BinaryCase{BinaryOp::Add, {2, 320, 16, 16}, {2, 320, 1, 1}},  // resnet + time embedding
                      BinaryCase{BinaryOp::Add, {2, 77, 64}, {64}},                 // [B,T,C] + bias [C]
                      BinaryCase{BinaryOp::Sub, {2, 77, 64}, {1}},                  // minus a scalar
                      BinaryCase{BinaryOp::Mul, {1}, {13, 5}},                      // scalar on the left
                      BinaryCase{BinaryOp::Mul, {13, 1, 7}, {1, 5, 1}},             // both sides broadcast
                      BinaryCase{BinaryOp::Mul, {13, 1, 8}, {1, 5, 8}},             // same, 4 per invocation
                      BinaryCase{BinaryOp::Add, {127}, {127}},                      // equal shapes
                      BinaryCase{BinaryOp::Mul, {1}, {1}},
                      BinaryCase{BinaryOp::Sub, {2, 4, 13, 9}, {2, 4, 13, 9}},
                      BinaryCase{BinaryOp::Mul, {2, 8, 16, 16}, {2, 8, 16, 1}},        // one value per row
                      BinaryCase{BinaryOp::Sub, {3, 1, 5, 1, 4, 2}, {2, 5, 1, 4, 1}},  // 4 dims collapsed
                      BinaryCase{BinaryOp::Add, {2, 1, 3, 1, 5, 1}, {1, 2, 1, 4, 1, 3}}));  // 6, uncollapsible

// y = a in place, with and without a broadcast b.
TEST_F(Binary, InPlace) {
  auto& ctx = test::ctx();
  for (Shape bs : {Shape{2, 320, 16, 16}, Shape{2, 320, 1, 1}}) {
    Shape as{2, 320, 16, 16};
    auto a = test::random_vector(size_t(shape_numel(as)), 3), b = test::random_vector(size_t(shape_numel(bs)), 4);
    Tensor ta = Tensor::from_floats(ctx, as, DType::F32, a), tb = Tensor::from_floats(ctx, bs, DType::F32, b);
    Sequence s(ctx);
    binary(s, BinaryOp::Add, ta, tb, ta);
    s.run();
    test::expect_close(ta.download(ctx), ref::binary(BinaryOp::Add, a, as, b, bs), 1e-4, "in place " + shape_str(bs));
  }
}

// 2^24 + 1 elements: 65537 groups of 256, over lavapipe's 65535, so the Sequence splits the
// grid and the shader must index from the base group.
TEST_F(Binary, OverGroupLimit) {
  auto& ctx = test::ctx();
  int64_t n = (int64_t(1) << 24) + 1;
  std::vector<float> a(static_cast<size_t>(n)), b(a.size());
  for (size_t i = 0; i < a.size(); i++) a[i] = float(i % 1009) * 0.01f, b[i] = float(i % 997) * -0.02f;
  Tensor ta = Tensor::from_floats(ctx, {n}, DType::F32, a), tb = Tensor::from_floats(ctx, {n}, DType::F32, b);
  Tensor ty = Tensor::empty(ctx, {n}, DType::F32);
  Sequence s(ctx);
  binary(s, BinaryOp::Add, ta, tb, ty);
  s.run();
  test::expect_close(ty.download(ctx), ref::binary(BinaryOp::Add, a, {n}, b, {n}), 1e-4, "2^24+1");
}

TEST_F(Binary, RejectsBadArguments) {
  auto& ctx = test::ctx();
  auto t = [&](Shape s, DType d = DType::F32) { return Tensor::empty(ctx, s, d); };
  Sequence s(ctx);
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 3}), t({4}), t({2, 3})), Error);              // 3 vs 4
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 3}), t({3}), t({3})), Error);                 // y not broadcast
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 1}), t({1, 3}), t({2, 1})), Error);           // y too small
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 3}), t({3}, DType::F16), t({2, 3})), Error);  // mixed dtypes
  EXPECT_THROW(binary(s, BinaryOp::Add, t({1, 1, 1, 1, 1, 1, 2}), t({2}), t({1, 1, 1, 1, 1, 1, 2})), Error);
  Tensor buf = t({64});  // y overlapping a, shifted by 4 elements
  EXPECT_THROW(binary(s, BinaryOp::Add, buf.view(4, {32}, ctx), t({1}), buf.view(0, {32}, ctx)), Error);
}

using SmallDispatchLimit = test::SmallDispatchLimit;  // grids of at most 7 groups

TEST_F(SmallDispatchLimit, BinaryCoversEveryElement) {
  auto& ctx = test::ctx();
  const Shape& as = test::kSplitGridShape;
  Shape bs{3, 20, 1, 1};
  auto a = test::split_grid_values(), b = test::random_vector(size_t(shape_numel(bs)), 22);
  Tensor ta = Tensor::from_floats(ctx, as, DType::F32, a), tb = Tensor::from_floats(ctx, bs, DType::F32, b);
  Tensor row = Tensor::from_floats(ctx, {13}, DType::F32, std::vector<float>(b.begin(), b.begin() + 13));
  Tensor prod = Tensor::empty(ctx, as, DType::F32), sum = Tensor::empty(ctx, as, DType::F32);
  Sequence s(ctx);
  binary(s, BinaryOp::Mul, ta, tb, prod);  // 4 per invocation: 13 groups
  binary(s, BinaryOp::Add, ta, row, sum);  // innermost dim 13, 1 per invocation: 49 groups
  s.run();
  auto ref_mul = ref::binary(BinaryOp::Mul, a, as, b, bs);
  auto ref_add = ref::binary(BinaryOp::Add, a, as, std::vector<float>(b.begin(), b.begin() + 13), {13});
  // float32 sums and products are correctly rounded, as the reference's double result rounded.
  test::expect_same_values(prod.download(ctx), ref_mul, "binary mul");
  test::expect_same_values(sum.download(ctx), ref_add, "binary add");
}

}  // namespace
