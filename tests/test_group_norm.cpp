#include "ops/group_norm.h"

#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "tests/support/family_test.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;
using namespace sdvk::test::family;

namespace {

// ---- group norm ----

struct GroupNormCase {
  Shape shape;  // [N, C, ...]
  int groups;
  bool silu;
  float eps;
};
void PrintTo(const GroupNormCase& k, std::ostream* os) {
  *os << shape_str(k.shape) << " groups " << k.groups << (k.silu ? " silu" : "") << " eps " << k.eps;
}

void check_group_norm(const GroupNormCase& k, DType dt, std::vector<float> x, KernelFamily f) {
  auto& c = test::ctx();
  int64_t n = k.shape[0], ch = k.shape[1], spatial = shape_numel(k.shape) / (n * ch);
  x = stored(x, dt);
  auto gamma = stored(test::random_vector(size_t(ch), 11, 0.5f, 1.5f), dt);
  auto beta = stored(test::random_vector(size_t(ch), 12, -0.5f, 0.5f), dt);
  Tensor tx = Tensor::from_floats(c, k.shape, dt, x), ty = Tensor::empty(c, k.shape, dt);
  Tensor tg = Tensor::from_floats(c, {ch}, dt, gamma), tb = Tensor::from_floats(c, {ch}, dt, beta);
  auto got = run([&](Sequence& s) { group_norm(s, tx, tg, tb, ty, k.groups, k.eps, k.silu); }, ty, f);
  test::expect_close(got, ref::group_norm(x, gamma, beta, n, ch, spatial, k.groups, k.eps, k.silu), tol(dt),
                     "group_norm " + shape_str(k.shape) + " groups " + std::to_string(k.groups) + " " +
                         dtype_name(dt) + (k.silu ? " silu" : ""));
}

using GroupNormTest = CaseTest<GroupNormCase>;

// Off-centre data (mean 1) so that a wrong mean shows.
TEST_P(GroupNormTest, MatchesReference) {
  auto k = param();
  for (DType dt : {DType::F32, DType::F16})
    check_group_norm(k, dt, test::random_vector(size_t(shape_numel(k.shape)), 5, -2.0f, 4.0f), family());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GroupNormTest,
    ::testing::Combine(
        ::testing::Values(
            // A real SD UNet row: 320 channels / 32 groups x 64x64 = 40960 values, + SiLU.
            GroupNormCase{{1, 320, 64, 64}, 32, true, 1e-5f},
            // SD's 32 groups scaled to CI size, with and without SiLU, UNet and VAE eps.
            GroupNormCase{{1, 64, 16, 16}, 32, true, 1e-5f}, GroupNormCase{{1, 64, 16, 16}, 32, false, 1e-6f},
            GroupNormCase{{2, 64, 16, 16}, 16, true, 1e-5f},  // batch 2, 16 groups
            GroupNormCase{{1, 32, 8, 8}, 1, false, 1e-5f},    // one group: the whole sample
            GroupNormCase{{1, 32, 8, 8}, 32, true, 1e-6f},    // one channel per group
            GroupNormCase{{1, 13, 13, 7}, 13, false, 1e-5f},  // odd everything
            GroupNormCase{{2, 64, 13, 7}, 32, true, 1e-5f},   // rows shorter than a GPU workgroup's 4 x 256
            GroupNormCase{{2, 32, 5, 5}, 8, true, 1e-6f},     // channels shorter than a CPU iteration (32)
            GroupNormCase{{2, 12, 77}, 4, false, 1e-6f},      // 3-D [N, C, L]
            GroupNormCase{{1, 6, 61, 67}, 2, true, 1e-5f},    // GPU family: rows in 2 uneven chunks
            GroupNormCase{{3, 12}, 3, true, 1e-5f}),          // no spatial dims: 4 values a row
        kFamilies),
    [](const auto& info) {
      const GroupNormCase& k = std::get<0>(info.param);
      return shape_name(k.shape) + "_g" + std::to_string(k.groups) + (k.silu ? "_silu_" : "_") +
             family_name(std::get<1>(info.param));
    });

// ---- trained-model magnitudes ----

// Values ~1100 a few units apart, as trained activations can be: squares reach 1.2e6 and row
// sums 1e6 and more, far past float16's 65504, so float16 statistics would be Inf; a one-pass
// E[x^2] - E[x]^2 in float32 would lose the variance (~21) to cancellation against 1.2e6.
// Each test runs float32 and float16 storage.
using Hot = FamilyTest;

TEST_P(Hot, GroupNorm) {
  family();
  // 8 rows of 4 x 1024: alternately 1100 +- 8 and spread over +-1100.
  auto x = test::random_vector(32 * 1024, 21, -8.0f, 8.0f);
  auto wide = test::random_vector(32 * 1024, 22, -1100.0f, 1100.0f);
  for (size_t i = 0; i < x.size(); i++) x[i] = (i / 4096) % 2 ? wide[i] : 1100.0f + x[i];
  float half_sum = 0;  // what a float16 accumulator would make of the first row's squares
  for (size_t i = 0; i < 4096; i++) half_sum = round_to_half(half_sum + round_to_half(x[i] * x[i]));
  EXPECT_TRUE(std::isinf(half_sum));
  for (DType dt : {DType::F32, DType::F16}) check_group_norm({{1, 32, 32, 32}, 8, false, 1e-6f}, dt, x, family());
}

// One row of 2^20 values (a VAE group at 512x512 holds 4 x 512 x 512): the CPU shape widens to
// two subgroups here to stay inside lavapipe's loop limit, and the accumulation must not drift.
TEST_P(Hot, GroupNormMillionValueRow) {
  family();
  auto x = test::random_vector(size_t(1) << 20, 23, -8.0f, 8.0f);
  for (auto& v : x) v += 1100.0f;
  for (DType dt : {DType::F32, DType::F16}) check_group_norm({{1, 4, 512, 512}, 1, true, 1e-6f}, dt, x, family());
}

INSTANTIATE_TEST_SUITE_P(Families, Hot, kFamilies, family_test_name);

// ---- in place, split grids, errors ----

using GroupNorm = test::VkTest;

TEST_F(GroupNorm, InPlace) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 64 * 91, 61, -2.0f, 4.0f), g = test::random_vector(64, 62, 0.5f, 1.5f);
  auto b = test::random_vector(64, 63);
  Tensor tx = Tensor::from_floats(c, {2, 64, 13, 7}, DType::F32, x);
  Tensor tg = Tensor::from_floats(c, {64}, DType::F32, g), tb = Tensor::from_floats(c, {64}, DType::F32, b);
  Sequence s(c);
  group_norm(s, tx, tg, tb, tx, 32, 1e-5f, true);
  s.run();
  test::expect_close(tx.download(c), ref::group_norm(x, g, b, 2, 64, 91, 32, 1e-5f, true), kTolF32, "group_norm");
}

// More rows than the dispatch limit: the Sequence splits the grid, and the shaders must use
// the base group in gl_WorkGroupID.
TEST_F(GroupNorm, RowsOverDispatchLimit) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 16 * 9, 71, -2.0f, 4.0f), g = test::random_vector(16, 72, 0.5f, 1.5f);
  auto b = test::random_vector(16, 73);
  Tensor tx = Tensor::from_floats(c, {2, 16, 9}, DType::F32, x), ty = Tensor::empty(c, {2, 16, 9}, DType::F32);
  Tensor tg = Tensor::from_floats(c, {16}, DType::F32, g), tb = Tensor::from_floats(c, {16}, DType::F32, b);
  c.set_dispatch_limit(5);
  Sequence s(c);
  group_norm(s, tx, tg, tb, ty, 16, 1e-5f);  // 32 rows
  s.run();
  c.set_dispatch_limit(UINT32_MAX);
  test::expect_close(ty.download(c), ref::group_norm(x, g, b, 2, 16, 9, 16, 1e-5f, false), kTolF32, "group_norm");
}

// GPU family: few long rows split over several workgroups each (a moments pass, then the
// normalisation), here with both grid dimensions over the dispatch limit and in place, where
// a chunk's second pass must not read a row start another chunk has overwritten. The CPU
// family keeps one pass.
TEST_F(GroupNorm, SplitsFewLongRowsOnTheGpuFamily) {
  auto& c = test::ctx();
  auto x = test::random_vector(16 * 64 * 64, 81, -2.0f, 4.0f), g = test::random_vector(16, 82, 0.5f, 1.5f);
  auto b = test::random_vector(16, 83);
  for (auto& v : x) v += 300.0f;  // off-centre, so a wrong shift shows
  auto want = ref::group_norm(x, g, b, 1, 16, 64 * 64, 4, 1e-5f, true);
  Tensor tg = Tensor::from_floats(c, {16}, DType::F32, g), tb = Tensor::from_floats(c, {16}, DType::F32, b);
  for (KernelFamily f : {KernelFamily::Gpu, KernelFamily::Cpu}) {
    for (bool in_place : {false, true}) {
      c.set_kernel_family(f);
      c.set_dispatch_limit(3);  // 4 rows of 4 chunks
      Tensor tx = Tensor::from_floats(c, {1, 16, 64, 64}, DType::F32, x);
      Tensor ty = in_place ? tx : Tensor::empty(c, {1, 16, 64, 64}, DType::F32);
      Sequence s(c);
      group_norm(s, tx, tg, tb, ty, 4, 1e-5f, true);
      s.run();
      c.set_dispatch_limit(UINT32_MAX);
      c.set_kernel_family(KernelFamily::Auto);
      std::string what = "group_norm " + family_name(f) + (in_place ? " in place" : "");
      EXPECT_EQ(s.dispatch_count(), f == KernelFamily::Gpu ? 2u : 1u) << what;
      test::expect_close(ty.download(c), want, kTolF32, what);
    }
  }
}

TEST_F(GroupNorm, WrongShapesThrow) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {2, 64, 4, 4}, DType::F32), y = Tensor::empty(c, {2, 64, 4, 4}, DType::F32);
  Tensor g64 = Tensor::empty(c, {64}, DType::F32), g32 = Tensor::empty(c, {32}, DType::F32);
  Tensor h64 = Tensor::empty(c, {64}, DType::F16), y16 = Tensor::empty(c, {2, 64, 4, 4}, DType::F16);
  Tensor y2 = Tensor::empty(c, {2, 64, 16}, DType::F32), v = Tensor::empty(c, {64}, DType::F32);
  Sequence s(c);
  expect_error([&] { group_norm(s, x, g64, g64, y, 24, 1e-5f); }, "group_norm: x [2,64,4,4]: 64 channels");
  expect_error([&] { group_norm(s, x, g64, g64, y, 0, 1e-5f); }, "group_norm: x [2,64,4,4]: 64 channels");
  expect_error([&] { group_norm(s, x, g32, g64, y, 32, 1e-5f); }, "group_norm: x [2,64,4,4] needs gamma");
  expect_error([&] { group_norm(s, x, g64, g64, y2, 32, 1e-5f); }, "group_norm: shapes differ");
  expect_error([&] { group_norm(s, x, g64, g64, y16, 32, 1e-5f); }, "group_norm: storage types differ");
  expect_error([&] { group_norm(s, x, h64, h64, y, 32, 1e-5f); }, "group_norm: storage types differ");
  expect_error([&] { group_norm(s, v, v, v, v, 1, 1e-5f); }, "group_norm: x [64] must be [N, C, ...]");
  EXPECT_EQ(s.dispatch_count(), 0u);
}
}  // namespace
