// Nearest-neighbour upsampling (2x and any size) against its reference.
#include "core/error.h"
#include "ops/upsample_nearest.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

struct UpsampleCase {
  Shape x;  // [N,C,H,W]
  DType dtype;
};

class UpsampleTest : public test::VkTest, public ::testing::WithParamInterface<UpsampleCase> {};

// A copy: exact in both storage types. W % 4 == 0 takes the 4-wide kernel, other W the scalar one.
TEST_P(UpsampleTest, MatchesReferenceExactly) {
  auto& c = test::ctx();
  const auto& [xs, dtype] = GetParam();
  auto x = test::random_stored(shape_numel(xs), 11, dtype);
  Tensor tx = Tensor::from_floats(c, xs, dtype, x);
  Tensor ty = Tensor::empty(c, {xs[0], xs[1], 2 * xs[2], 2 * xs[3]}, dtype);
  Sequence s(c);
  upsample_nearest2x(s, tx, ty);
  s.run();
  test::expect_close(ty.download(c), ref::upsample_nearest2x(x, xs[0], xs[1], xs[2], xs[3]), 0.0,
                     "upsample " + shape_str(xs) + " " + dtype_name(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, UpsampleTest,
                         ::testing::Values(UpsampleCase{{2, 32, 8, 8}, DType::F32},
                                           UpsampleCase{{1, 3, 13, 7}, DType::F32},
                                           UpsampleCase{{1, 1, 1, 1}, DType::F32},
                                           UpsampleCase{{1, 13, 3, 12}, DType::F32},
                                           UpsampleCase{{2, 32, 8, 8}, DType::F16},
                                           UpsampleCase{{1, 3, 13, 7}, DType::F16},
                                           UpsampleCase{{1, 1, 1, 1}, DType::F16},
                                           UpsampleCase{{1, 13, 3, 12}, DType::F16}));

using Upsample = test::VkTest;

// Any output size (the UNet's up blocks meeting an odd-sized skip): PyTorch's float32 index rule,
// both storage types; an exact 2x through this entry takes the 2x kernels.
TEST_F(Upsample, AnySizeMatchesReferenceExactly) {
  auto& c = test::ctx();
  const std::pair<Shape, Shape> cases[] = {{{2, 8, 5, 3}, {2, 8, 9, 6}},    // 18x12 latent, 2 levels down
                                           {{1, 3, 4, 4}, {1, 3, 7, 9}},    // arbitrary
                                           {{1, 2, 7, 5}, {1, 2, 13, 5}},   // one axis only
                                           {{1, 4, 3, 4}, {1, 4, 6, 8}}};   // exactly 2x
  for (DType dtype : {DType::F32, DType::F16})
    for (const auto& [xs, ys] : cases) {
      auto x = test::random_stored(shape_numel(xs), 12, dtype);
      Tensor tx = Tensor::from_floats(c, xs, dtype, x), ty = Tensor::empty(c, ys, dtype);
      Sequence s(c);
      upsample_nearest(s, tx, ty);
      s.run();
      test::expect_close(ty.download(c), ref::upsample_nearest(x, xs[0], xs[1], xs[2], xs[3], ys[2], ys[3]), 0.0,
                         "upsample " + shape_str(xs) + " -> " + shape_str(ys) + " " + dtype_name(dtype));
    }
  // The reference agrees with the 2x one where both apply, and with PyTorch's 5 -> 9 indices.
  std::vector<float> v = {0, 1, 2, 3, 4};
  EXPECT_EQ(ref::upsample_nearest(v, 1, 1, 1, 5, 2, 10), ref::upsample_nearest2x(v, 1, 1, 1, 5));
  EXPECT_EQ(ref::upsample_nearest(v, 1, 1, 1, 5, 1, 9), (std::vector<float>{0, 0, 1, 1, 2, 2, 3, 3, 4}));
}

TEST_F(Upsample, WrongShapesThrow) {
  auto& c = test::ctx();
  Sequence s(c);
  Tensor x = Tensor::empty(c, {1, 2, 3, 4}, DType::F32);
  EXPECT_THROW(upsample_nearest2x(s, x, Tensor::empty(c, {1, 2, 6, 4}, DType::F32)), Error);
  EXPECT_THROW(upsample_nearest2x(s, x, Tensor::empty(c, {1, 2, 6, 8}, DType::F16)), Error);
  EXPECT_THROW(upsample_nearest2x(s, Tensor::empty(c, {2, 3, 4}, DType::F32), Tensor::empty(c, {2, 6, 8}, DType::F32)),
               Error);
  EXPECT_THROW(upsample_nearest(s, x, Tensor::empty(c, {1, 3, 6, 8}, DType::F32)), Error);  // channels differ
  EXPECT_THROW(upsample_nearest(s, x, Tensor::empty(c, {1, 2, 5, 7}, DType::F16)), Error);  // dtype
  EXPECT_EQ(s.dispatch_count(), 0u);
}

}  // namespace
