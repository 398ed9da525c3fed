#include "ops/permute.h"

#include <cmath>

#include "tests/support/vk_test.h"
#include "vk/error.h"

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

TEST_F(Permute, EmbeddingLooksUpRowsAndFlagsBadIds) {
  auto& c = test::ctx();
  const int64_t vocab = 300, width = 64;
  auto table = test::random_vector(size_t(vocab * width), 9);
  std::vector<float> ids = {0, 299, 7, 42, 300, -1, 13};  // 300 and -1 are outside the table
  for (DType dt : {DType::F32, DType::F16}) {
    auto tab = dt == DType::F16 ? test::round_to_half(table) : table;
    Tensor tids = Tensor::from_floats(c, {1, 7}, DType::F32, ids);
    Tensor ttab = Tensor::from_floats(c, {vocab, width}, dt, tab);
    Tensor ty = Tensor::empty(c, {1, 7, width}, dt);
    Sequence s(c);
    embedding(s, tids, ttab, ty);
    s.run();
    auto got = ty.download(c), want = ref::embedding(ids, tab, width);
    for (size_t i = 0; i < got.size(); i++) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << i;
      } else {
        ASSERT_EQ(got[i], want[i]) << i;
      }
    }
  }
}

}  // namespace
