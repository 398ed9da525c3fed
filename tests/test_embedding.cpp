#include "ops/embedding.h"

#include <cmath>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Embedding = test::VkTest;

TEST_F(Embedding, LooksUpRowsAndFlagsBadIds) {
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
