#include "ops/softmax.h"

#include "core/error.h"
#include "tests/support/family_test.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;
using namespace sdvk::test::family;

namespace {

// ---- softmax ----

struct SoftmaxCase {
  Shape shape;  // [..., L]
  float scale;
};
void PrintTo(const SoftmaxCase& k, std::ostream* os) { *os << shape_str(k.shape) << " scale " << k.scale; }

void check_softmax(const SoftmaxCase& k, DType dt, std::vector<float> x, KernelFamily f) {
  auto& c = test::ctx();
  x = stored(x, dt);
  Tensor tx = Tensor::from_floats(c, k.shape, dt, x), ty = Tensor::empty(c, k.shape, dt);
  auto got = run([&](Sequence& s) { softmax(s, tx, ty, k.scale); }, ty, f);
  test::expect_close(got, ref::softmax(x, k.shape.back(), k.scale), tol(dt),
                     "softmax " + shape_str(k.shape) + " " + dtype_name(dt));
}

using SoftmaxTest = CaseTest<SoftmaxCase>;

TEST_P(SoftmaxTest, MatchesReference) {
  const SoftmaxCase k = param();
  const std::vector<float> x = test::random_vector(size_t(shape_numel(k.shape)), 9, -6.0f, 6.0f);
  check_softmax(k, DType::F32, x, family());
  check_softmax(k, DType::F16, x, family());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SoftmaxTest,
    ::testing::Combine(::testing::Values(SoftmaxCase{{2, 64, 77}, 0.125f},         // cross-attention, 77 tokens
                                         SoftmaxCase{{4, 4096}, 0.158113883f},      // self-attention, 1/sqrt(40)
                                         SoftmaxCase{{127, 13}, 1.0f}, SoftmaxCase{{5, 1}, 1.0f},
                                         SoftmaxCase{{13, 77}, -0.5f}),  // a negative scale flips the max
                       kFamilies),
    [](const auto& info) {
      return shape_name(std::get<0>(info.param).shape) + "_" + family_name(std::get<1>(info.param));
    });

// A row of 2^20 + 13 values, past lavapipe's loop limit for the CPU shape. Float32 only: in
// float16 every output of so wide a softmax is below 2^-14, subnormal, so not within 2^-11.
using SoftmaxLongRow = FamilyTest;

TEST_P(SoftmaxLongRow, Float32MatchesReference) {
  family();
  SoftmaxCase k{{1, (1 << 20) + 13}, 1.0f};
  check_softmax(k, DType::F32, test::random_vector(size_t(shape_numel(k.shape)), 9, -6.0f, 6.0f), family());
}

INSTANTIATE_TEST_SUITE_P(Families, SoftmaxLongRow, kFamilies, family_test_name);

// ---- trained-model magnitudes ----

// Trained-model magnitudes (see test_group_norm.cpp), in float32 and float16 storage.
using Hot = FamilyTest;

// Logits 1000..1100: exp overflows float32 (and double) unless the row max is subtracted.
TEST_P(Hot, Softmax) {
  family();
  auto x = test::random_vector(13 * 77, 51, 1000.0f, 1100.0f);
  for (DType dt : {DType::F32, DType::F16}) check_softmax({{13, 77}, 1.0f}, dt, x, family());
}

INSTANTIATE_TEST_SUITE_P(Families, Hot, kFamilies, family_test_name);

// ---- in place, split grids, errors ----

using Softmax = test::VkTest;

TEST_F(Softmax, InPlace) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 64 * 91, 61, -2.0f, 4.0f);
  std::vector<float> xs(x.begin(), x.begin() + 13 * 77);
  Tensor ts = Tensor::from_floats(c, {13, 77}, DType::F32, xs);
  Sequence s(c);
  softmax(s, ts, ts, 0.5f);
  s.run();
  test::expect_close(ts.download(c), ref::softmax(xs, 77, 0.5f), kTolF32, "softmax");
}

// More rows than the dispatch limit: the Sequence splits the grid, and the shaders must use
// the base group in gl_WorkGroupID.
TEST_F(Softmax, RowsOverDispatchLimit) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 16 * 9, 71, -2.0f, 4.0f);
  Tensor tx = Tensor::from_floats(c, {32, 9}, DType::F32, x), tsm = Tensor::empty(c, {32, 9}, DType::F32);
  c.set_dispatch_limit(5);
  Sequence s(c);
  softmax(s, tx, tsm, 2.0f);  // 32 rows
  s.run();
  c.set_dispatch_limit(UINT32_MAX);
  test::expect_close(tsm.download(c), ref::softmax(x, 9, 2.0f), kTolF32, "softmax");
}

TEST_F(Softmax, WrongShapesThrow) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {2, 64, 4, 4}, DType::F32), y2 = Tensor::empty(c, {2, 64, 16}, DType::F32);
  Tensor y16 = Tensor::empty(c, {2, 64, 4, 4}, DType::F16);
  Sequence s(c);
  expect_error([&] { softmax(s, x, y2); }, "softmax: shapes differ");
  expect_error([&] { softmax(s, x, y16); }, "softmax: storage types differ");
  EXPECT_EQ(s.dispatch_count(), 0u);
}
}  // namespace
