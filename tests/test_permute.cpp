#include "ops/permute.h"

#include <cmath>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Permute = test::VkTest;

void check_permute(const Shape& shape, const std::vector<int>& perm, DType dt) {
  auto& c = test::ctx();
  auto x = test::random_vector(size_t(shape_numel(shape)), uint32_t(shape_numel(shape)));
  if (dt == DType::F16) x = test::round_to_half(x);
  Tensor tx = Tensor::from_floats(c, shape, dt, x);
  Tensor ty = Tensor::empty(c, permuted_shape(shape, perm), dt);
  Sequence s(c);
  permute(s, tx, perm, ty);
  s.run();
  // A permutation moves values without arithmetic: exact in both storage types.
  EXPECT_EQ(ty.download(c), ref::permute(x, shape, perm)) << shape_str(shape);
}

TEST_F(Permute, NchwToNhwcAndBack) {
  for (DType dt : {DType::F32, DType::F16}) {
    check_permute({2, 32, 8, 8}, {0, 2, 3, 1}, dt);
    check_permute({2, 8, 8, 32}, {0, 3, 1, 2}, dt);
    check_permute({2, 13, 7}, {0, 2, 1}, dt);  // [B,C,HW] -> [B,HW,C], non-square
  }
}

TEST_F(Permute, AwkwardShapes) {
  check_permute({1}, {0}, DType::F32);
  check_permute({127, 13}, {1, 0}, DType::F32);
  check_permute({3, 1, 5, 2}, {3, 1, 0, 2}, DType::F32);
  check_permute({2, 77, 8, 40}, {0, 2, 1, 3}, DType::F16);  // split heads
}

TEST_F(Permute, RejectsBadPermutations) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {2, 3, 4}, DType::F32), y = Tensor::empty(c, {2, 4, 3}, DType::F32);
  Sequence s(c);
  EXPECT_THROW(permute(s, x, {0, 1}, y), Error);
  EXPECT_THROW(permute(s, x, {0, 1, 1}, y), Error);
  EXPECT_THROW(permute(s, x, {0, 1, 2}, y), Error);  // wrong output shape
}

}  // namespace
