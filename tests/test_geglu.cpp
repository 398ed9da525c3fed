// GEGLU against its reference.
#include "core/error.h"
#include "ops/geglu.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

struct GegluCase {
  Shape x;  // [..., 2N]
  DType dtype;
};

class GegluTest : public test::VkTest, public ::testing::WithParamInterface<GegluCase> {};

TEST_P(GegluTest, MatchesReference) {
  auto& c = test::ctx();
  const auto& [xs, dtype] = GetParam();
  Shape ys = xs;
  ys.back() /= 2;
  auto x = test::random_stored(shape_numel(xs), uint32_t(shape_numel(xs)), dtype, -4.0f, 4.0f);
  Tensor tx = Tensor::from_floats(c, xs, dtype, x), ty = Tensor::empty(c, ys, dtype);
  Sequence s(c);
  geglu(s, tx, ty);
  s.run();
  // float32: only erf_approx's 1.2e-7 and float rounding. float16: the result is rounded once
  // to float16 (<= 2^-11 ~ 4.9e-4 of its value, so of max |ref|); 1e-3 leaves room for the rest.
  double tol = dtype == DType::F32 ? 1e-4 : 1e-3;
  test::expect_close(ty.download(c), ref::geglu(x, ys.back()), tol, "geglu " + shape_str(xs) + " " + dtype_name(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GegluTest,
                         ::testing::Values(GegluCase{{2, 64, 2 * 80}, DType::F32}, GegluCase{{1, 1, 2}, DType::F32},
                                           GegluCase{{13, 7, 2 * 13}, DType::F32},
                                           GegluCase{{2, 64, 2 * 80}, DType::F16}, GegluCase{{1, 1, 2}, DType::F16},
                                           GegluCase{{13, 7, 2 * 13}, DType::F16}));

using Geglu = test::VkTest;

TEST_F(Geglu, WrongShapesThrow) {
  auto& c = test::ctx();
  Sequence s(c);
  Tensor odd = Tensor::empty(c, {2, 7}, DType::F32), y3 = Tensor::empty(c, {2, 3}, DType::F32);
  EXPECT_THROW(geglu(s, odd, y3), Error);  // odd last dim
  Tensor x = Tensor::empty(c, {2, 8}, DType::F32);
  EXPECT_THROW(geglu(s, x, Tensor::empty(c, {2, 8}, DType::F32)), Error);  // y not halved
  EXPECT_THROW(geglu(s, x, Tensor::empty(c, {3, 4}, DType::F32)), Error);  // leading dims differ
  EXPECT_THROW(geglu(s, x, Tensor::empty(c, {2, 4}, DType::F16)), Error);  // dtypes differ
  EXPECT_EQ(s.dispatch_count(), 0u);
}

}  // namespace
