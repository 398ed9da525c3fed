#include "ops/permute.h"

#include <cmath>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Permute = test::VkTest;

// Checks y against the reference and that a batched transpose took the tiled kernel (and any
// other permutation the gather).
void check_permute(const Shape& shape, const std::vector<int>& perm, DType dt, bool tiled) {
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
  EXPECT_EQ(s.profile().back().kernel.find("permute_tiled") == 0, tiled) << s.profile().back().kernel;
}

TEST_F(Permute, NchwToNhwcAndBack) {
  for (DType dt : {DType::F32, DType::F16}) {
    check_permute({2, 32, 8, 8}, {0, 2, 3, 1}, dt, true);
    check_permute({2, 8, 8, 32}, {0, 3, 1, 2}, dt, true);
    check_permute({2, 13, 7}, {0, 2, 1}, dt, true);  // [B,C,HW] -> [B,HW,C], non-square
    check_permute({3, 45, 70}, {0, 2, 1}, dt, true);  // partial tiles at both edges
    check_permute({1, 100, 37}, {0, 2, 1}, dt, true);  // batch 1: a plain transpose
  }
}

TEST_F(Permute, AwkwardShapes) {
  check_permute({1}, {0}, DType::F32, false);
  check_permute({127, 13}, {1, 0}, DType::F32, true);
  check_permute({3, 1, 5, 2}, {3, 1, 0, 2}, DType::F32, false);
  check_permute({3, 1, 5, 2}, {1, 2, 3, 0}, DType::F32, true);  // size-1 dims dropped: [3, 10] -> [10, 3]
  check_permute({2, 77, 8, 40}, {0, 2, 1, 3}, DType::F16, false);  // split heads
  check_permute({5, 6, 7}, {2, 0, 1}, DType::F32, true);           // [30, 7] -> [7, 30]
  check_permute({5, 6, 7}, {1, 0, 2}, DType::F32, false);
}

// More batches and tiles than the dispatch limit: the Sequence splits the grid and the tiled
// kernel must use the base group in gl_WorkGroupID.
TEST_F(Permute, TiledOverDispatchLimit) {
  test::ctx().set_dispatch_limit(3);
  check_permute({7, 70, 100}, {0, 2, 1}, DType::F32, true);
  test::ctx().set_dispatch_limit(UINT32_MAX);
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
