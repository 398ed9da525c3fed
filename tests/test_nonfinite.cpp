#include "ops/nonfinite.h"


#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Nonfinite = test::VkTest;

uint64_t count_on_device(const std::vector<float>& x, DType dtype) {
  auto& ctx = test::ctx();
  Tensor tx = Tensor::from_floats(ctx, {int64_t(x.size())}, dtype, x);
  Tensor count = Tensor::from_floats(ctx, {1}, DType::F32, {12345.0f});  // stale value to overwrite
  Sequence s(ctx);
  nonfinite(s, tx, count);
  s.run();
  uint64_t first = read_count(ctx, count);
  EXPECT_EQ(count.download(ctx).at(0), float(first));  // the tensor holds the count as a float
  s.run();  // a replay zeroes and counts again
  EXPECT_EQ(read_count(ctx, count), first);
  return first;
}

TEST_F(Nonfinite, CountsPlantedValues) {
  for (DType dtype : {DType::F32, DType::F16}) {
    for (int64_t n : {1, 13, 4097, 2 * 4 * 64 * 64}) {
      std::string what = std::string(dtype_name(dtype)) + " n=" + std::to_string(n);
      auto x = test::random_vector(size_t(n), 1, -1000.0f, 1000.0f);
      EXPECT_EQ(count_on_device(x, dtype), 0u) << what;
      for (float bad : {test::kNaN, test::kInf, -test::kInf}) {
        auto y = x;
        y[0] = y[size_t(n) / 2] = y[size_t(n) - 1] = bad;
        EXPECT_EQ(count_on_device(y, dtype), ref::nonfinite(y)) << what << " with " << bad;
      }
    }
  }
}

// Many non-finite values: every workgroup adds a large count; 70000 is finite in float32 only.
TEST_F(Nonfinite, CountsDenseValues) {
  std::vector<float> x(100000);
  for (size_t i = 0; i < x.size(); i++) x[i] = i % 3 == 0 ? test::kNaN : i % 3 == 1 ? 70000.0f : 1.0f;
  EXPECT_EQ(count_on_device(x, DType::F32), 33334u);
  EXPECT_EQ(count_on_device(x, DType::F16), 66667u);  // 70000 is Inf as float16
}

TEST_F(Nonfinite, RejectsBadCount) {
  auto& ctx = test::ctx();
  Sequence s(ctx);
  Tensor x = Tensor::empty(ctx, {16}, DType::F32);
  EXPECT_THROW(nonfinite(s, x, Tensor::empty(ctx, {2}, DType::F32)), Error);
  EXPECT_THROW(nonfinite(s, x, Tensor::empty(ctx, {1}, DType::F16)), Error);
  EXPECT_THROW(nonfinite(s, x, x.view(0, {1}, ctx)), Error);  // count inside x
}

using SmallDispatchLimit = test::SmallDispatchLimit;  // grids of at most 7 groups

TEST_F(SmallDispatchLimit, NonfiniteCoversEveryElement) {
  auto& ctx = test::ctx();
  // 12480 elements: 4 groups of 4096.
  Tensor ta = Tensor::from_floats(ctx, test::kSplitGridShape, DType::F32, test::split_grid_values());
  Tensor count = Tensor::empty(ctx, {1}, DType::F32);
  // nonfinite's grid: 15 groups of 4096, for 4 per invocation (57352) and for 1 (57349).
  std::vector<float> big(7 * 4096 * 2 + 8, 1.0f);
  big[57348] = -test::kInf;
  Tensor tbig = Tensor::from_floats(ctx, {int64_t(big.size())}, DType::F32, big);
  Tensor tbig_odd = tbig.view(0, {57349}, ctx);
  Tensor count_big = Tensor::empty(ctx, {1}, DType::F32), count_odd = Tensor::empty(ctx, {1}, DType::F32);
  Sequence s(ctx);
  nonfinite(s, ta, count);
  nonfinite(s, tbig, count_big);
  nonfinite(s, tbig_odd, count_odd);
  s.run();
  EXPECT_EQ(read_count(ctx, count), 1u);
  EXPECT_EQ(read_count(ctx, count_big), 1u);
  EXPECT_EQ(read_count(ctx, count_odd), 1u);
}

}  // namespace
