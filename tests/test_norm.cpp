#include "ops/norm.h"

#include <cmath>

#include "tests/support/vk_test.h"
#include "vk/error.h"
#include "vk/half.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

// Float32: 1e-4 of max |ref| (the project bound; float32 sums over 40960 values err ~1e-6).
// Float16 storage: inputs, gamma and beta are rounded to float16 before the reference sees
// them, statistics and arithmetic run in float32 (~1e-6 relative), and each output is rounded
// once to float16: error <= 2^-11 |y| <= 2^-11 max|ref| ~ 4.9e-4; 1e-3 leaves room for the rest.
constexpr double kTolF32 = 1e-4, kTolF16 = 1e-3;

double tol(DType t) { return t == DType::F32 ? kTolF32 : kTolF16; }
std::vector<float> stored(std::vector<float> v, DType t) { return t == DType::F16 ? test::round_to_half(v) : v; }
const char* family_name(KernelFamily f) { return f == KernelFamily::Cpu ? "Cpu" : "Gpu"; }

// Forces a kernel family for one test, back to Auto afterwards.
class FamilyTest : public test::VkTest {
 protected:
  void use(KernelFamily f) { test::ctx().set_kernel_family(f); }
  void TearDown() override {
    test::ctx().set_kernel_family(KernelFamily::Auto);
    test::VkTest::TearDown();
  }
};

// The kernel the last dispatch of `s` used really is of family `f`.
void expect_family(const Sequence& s, KernelFamily f) {
  if (!test::ctx().info().subgroup_arithmetic) return;  // the CPU shape needs subgroups
  bool cpu = s.profile().back().kernel.find("_cpu_") != std::string::npos;
  EXPECT_EQ(cpu, f == KernelFamily::Cpu) << s.profile().back().kernel;
}

// ---- group norm ----

struct GroupNormCase {
  Shape shape;  // [N, C, ...]
  int groups;
  bool silu;
  float eps;
};

std::vector<float> run_group_norm(const GroupNormCase& k, DType dt, const std::vector<float>& x,
                                  const std::vector<float>& gamma, const std::vector<float>& beta, KernelFamily f) {
  auto& c = test::ctx();
  int64_t ch = k.shape[1];
  Tensor tx = Tensor::from_floats(c, k.shape, dt, x), ty = Tensor::empty(c, k.shape, dt);
  Tensor tg = Tensor::from_floats(c, {ch}, dt, gamma), tb = Tensor::from_floats(c, {ch}, dt, beta);
  Sequence s(c);
  group_norm(s, tx, tg, tb, ty, k.groups, k.eps, k.silu);
  s.run();
  expect_family(s, f);
  return ty.download(c);
}

void check_group_norm(const GroupNormCase& k, DType dt, std::vector<float> x, KernelFamily f) {
  int64_t n = k.shape[0], ch = k.shape[1], spatial = shape_numel(k.shape) / (n * ch);
  x = stored(x, dt);
  auto gamma = stored(test::random_vector(size_t(ch), 11, 0.5f, 1.5f), dt);
  auto beta = stored(test::random_vector(size_t(ch), 12, -0.5f, 0.5f), dt);
  auto want = ref::group_norm(x, gamma, beta, n, ch, spatial, k.groups, k.eps, k.silu);
  test::expect_close(run_group_norm(k, dt, x, gamma, beta, f), want, tol(dt),
                     "group_norm " + shape_str(k.shape) + " groups " + std::to_string(k.groups) + " " +
                         dtype_name(dt) + (k.silu ? " silu" : ""));
}

class GroupNormTest : public FamilyTest,
                      public ::testing::WithParamInterface<std::tuple<GroupNormCase, KernelFamily>> {
 protected:
  void check(DType dt) {
    auto [k, f] = GetParam();
    use(f);
    // Off-centre data (mean ~1) so a wrong mean shows.
    check_group_norm(k, dt, test::random_vector(size_t(shape_numel(k.shape)), 5, -2.0f, 4.0f), f);
  }
};

TEST_P(GroupNormTest, Float32MatchesReference) { check(DType::F32); }
TEST_P(GroupNormTest, Float16MatchesReference) { check(DType::F16); }

INSTANTIATE_TEST_SUITE_P(
    Shapes, GroupNormTest,
    ::testing::Combine(
        ::testing::Values(
            // A real SD UNet row: 320 channels / 32 groups x 64x64 = 40960 values, + SiLU.
            GroupNormCase{{1, 320, 64, 64}, 32, true, 1e-5f},
            // SD's 32 groups scaled to CI size, with and without SiLU; VAE eps.
            GroupNormCase{{1, 64, 16, 16}, 32, true, 1e-5f}, GroupNormCase{{1, 64, 16, 16}, 32, false, 1e-6f},
            GroupNormCase{{2, 64, 16, 16}, 16, true, 1e-5f},  // batch 2, 16 groups
            GroupNormCase{{1, 32, 8, 8}, 1, false, 1e-5f},    // one group: the whole sample
            GroupNormCase{{1, 32, 8, 8}, 32, true, 1e-6f},    // one channel per group
            GroupNormCase{{1, 13, 13, 7}, 13, false, 1e-5f},  // odd everything
            GroupNormCase{{2, 64, 13, 7}, 32, true, 1e-5f},   // rows shorter than a GPU workgroup
            GroupNormCase{{2, 32, 5, 5}, 8, true, 1e-6f},     // channels shorter than a CPU iteration
            GroupNormCase{{2, 12, 77}, 4, false, 1e-6f},      // 3-D [N, C, L]
            GroupNormCase{{3, 12}, 3, true, 1e-5f}),          // no spatial dims: 4 values a row
        ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
    [](const auto& info) {
      const GroupNormCase& k = std::get<0>(info.param);
      std::string name;
      for (int64_t d : k.shape) name += std::to_string(d) + "x";
      name += "g" + std::to_string(k.groups) + (k.silu ? "_silu_" : "_") + family_name(std::get<1>(info.param));
      return name;
    });

// Trained-model magnitudes: rows of values ~1100 (a few units apart) and rows spread over
// +-1100. Squares reach 1.2e6 and a row's sum 4.5e6, far past float16's 65504 (checked below),
// so float16 statistics would be Inf; a one-pass E[x^2] - E[x]^2 in float32 would lose the
// variance (~21) to cancellation against 1.2e6. Rows are long (4096) to test the accumulation.
class GroupNormHot : public FamilyTest, public ::testing::WithParamInterface<std::tuple<DType, KernelFamily>> {};

TEST_P(GroupNormHot, LargeMagnitudesMatchReference) {
  auto [dt, f] = GetParam();
  use(f);
  GroupNormCase k{{1, 32, 32, 32}, 8, false, 1e-6f};  // 8 rows of 4 x 1024
  auto x = test::random_vector(32 * 1024, 21, -8.0f, 8.0f);
  auto wide = test::random_vector(32 * 1024, 22, -1100.0f, 1100.0f);
  for (size_t i = 0; i < x.size(); i++) x[i] = (i / 4096) % 2 ? wide[i] : 1100.0f + x[i];
  x = stored(x, dt);
  float half_sum = 0;  // what a float16 accumulator would hold for the first row's squares
  for (size_t i = 0; i < 4096; i++) half_sum = round_to_half(half_sum + round_to_half(x[i] * x[i]));
  EXPECT_TRUE(std::isinf(half_sum));
  check_group_norm(k, dt, x, f);
}

// One row of 2^20 hot values (a VAE group at 512x512 holds 4 x 512 x 512): each invocation of
// the CPU family sums 2^17 of them, so the accumulation must not drift with the row length.
TEST_P(GroupNormHot, MillionValueRowMatchesReference) {
  auto [dt, f] = GetParam();
  use(f);
  auto x = test::random_vector(size_t(1) << 20, 23, -8.0f, 8.0f);
  for (auto& v : x) v += 1100.0f;
  check_group_norm({{1, 4, 512, 512}, 1, true, 1e-6f}, dt, x, f);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GroupNormHot,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
                         [](const auto& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_" +
                                  family_name(std::get<1>(info.param));
                         });

// ---- layer norm ----

struct LayerNormCase {
  Shape shape;  // [..., C]
};

void check_layer_norm(const Shape& shape, DType dt, std::vector<float> x) {
  auto& c = test::ctx();
  int64_t ch = shape.back();
  x = stored(x, dt);
  auto gamma = stored(test::random_vector(size_t(ch), 31, 0.5f, 1.5f), dt);
  auto beta = stored(test::random_vector(size_t(ch), 32, -0.5f, 0.5f), dt);
  Tensor tx = Tensor::from_floats(c, shape, dt, x), ty = Tensor::empty(c, shape, dt);
  Tensor tg = Tensor::from_floats(c, {ch}, dt, gamma), tb = Tensor::from_floats(c, {ch}, dt, beta);
  Sequence s(c);
  layer_norm(s, tx, tg, tb, ty, 1e-5f);
  s.run();
  test::expect_close(ty.download(c), ref::layer_norm(x, gamma, beta, ch, 1e-5f), tol(dt),
                     "layer_norm " + shape_str(shape) + " " + dtype_name(dt));
}

class LayerNormTest : public FamilyTest,
                      public ::testing::WithParamInterface<std::tuple<LayerNormCase, KernelFamily>> {
 protected:
  void check(DType dt) {
    auto [k, f] = GetParam();
    use(f);
    check_layer_norm(k.shape, dt, test::random_vector(size_t(shape_numel(k.shape)), 7, -2.0f, 4.0f));
  }
};

TEST_P(LayerNormTest, Float32MatchesReference) { check(DType::F32); }
TEST_P(LayerNormTest, Float16MatchesReference) { check(DType::F16); }

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormTest,
                         ::testing::Combine(::testing::Values(LayerNormCase{{2, 77, 320}},  // CLIP tokens, 768 scaled
                                                              LayerNormCase{{1, 64}}, LayerNormCase{{13, 64}},
                                                              LayerNormCase{{127, 13}}, LayerNormCase{{3, 1}},
                                                              LayerNormCase{{1, 256, 320}}),  // transformer block
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
                         [](const auto& info) {
                           std::string name;
                           for (int64_t d : std::get<0>(info.param).shape) name += std::to_string(d) + "x";
                           return name + family_name(std::get<1>(info.param));
                         });

class LayerNormHot : public FamilyTest, public ::testing::WithParamInterface<std::tuple<DType, KernelFamily>> {};

// Rows around 1100 (spread +-8) of 1280 values: float16 sums would overflow, a plain float32
// one-pass variance would cancel.
TEST_P(LayerNormHot, LargeMagnitudesMatchReference) {
  auto [dt, f] = GetParam();
  use(f);
  auto x = test::random_vector(13 * 1280, 41, -8.0f, 8.0f);
  for (auto& v : x) v += 1100.0f;
  check_layer_norm({13, 1280}, dt, x);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LayerNormHot,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
                         [](const auto& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_" +
                                  family_name(std::get<1>(info.param));
                         });

// ---- softmax ----

struct SoftmaxCase {
  Shape shape;  // [..., L]
  float scale;
};

void check_softmax(const SoftmaxCase& k, DType dt, std::vector<float> x) {
  auto& c = test::ctx();
  x = stored(x, dt);
  Tensor tx = Tensor::from_floats(c, k.shape, dt, x), ty = Tensor::empty(c, k.shape, dt);
  Sequence s(c);
  softmax(s, tx, ty, k.scale);
  s.run();
  test::expect_close(ty.download(c), ref::softmax(x, k.shape.back(), k.scale), tol(dt),
                     "softmax " + shape_str(k.shape) + " " + dtype_name(dt));
}

class SoftmaxTest : public FamilyTest, public ::testing::WithParamInterface<std::tuple<SoftmaxCase, KernelFamily>> {
 protected:
  void check(DType dt) {
    auto [k, f] = GetParam();
    use(f);
    check_softmax(k, dt, test::random_vector(size_t(shape_numel(k.shape)), 9, -6.0f, 6.0f));
  }
};

TEST_P(SoftmaxTest, Float32MatchesReference) { check(DType::F32); }
TEST_P(SoftmaxTest, Float16MatchesReference) { check(DType::F16); }

INSTANTIATE_TEST_SUITE_P(
    Shapes, SoftmaxTest,
    ::testing::Combine(::testing::Values(SoftmaxCase{{2, 64, 77}, 0.125f},    // cross-attention over 77 tokens
                                         SoftmaxCase{{4, 4096}, 0.158113883f},  // self-attention, 1/sqrt(40)
                                         SoftmaxCase{{127, 13}, 1.0f}, SoftmaxCase{{5, 1}, 1.0f},
                                         SoftmaxCase{{13, 77}, -0.5f}),  // a negative scale flips the max
                       ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
    [](const auto& info) {
      std::string name;
      for (int64_t d : std::get<0>(info.param).shape) name += std::to_string(d) + "x";
      return name + family_name(std::get<1>(info.param));
    });

class SoftmaxHot : public FamilyTest, public ::testing::WithParamInterface<std::tuple<DType, KernelFamily>> {};

// Logits 1000..1100: exp overflows float32 (and double) unless the row max is subtracted.
TEST_P(SoftmaxHot, LargeLogitsMatchReference) {
  auto [dt, f] = GetParam();
  use(f);
  check_softmax({{13, 77}, 1.0f}, dt, test::random_vector(13 * 77, 51, 1000.0f, 1100.0f));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SoftmaxHot,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
                         [](const auto& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_" +
                                  family_name(std::get<1>(info.param));
                         });

// ---- in place, split grids, errors ----

using Norm = test::VkTest;

TEST_F(Norm, InPlace) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 64 * 91, 61, -2.0f, 4.0f), g = test::random_vector(64, 62, 0.5f, 1.5f);
  auto b = test::random_vector(64, 63);
  Tensor tx = Tensor::from_floats(c, {2, 64, 13, 7}, DType::F32, x);
  Tensor tg = Tensor::from_floats(c, {64}, DType::F32, g), tb = Tensor::from_floats(c, {64}, DType::F32, b);
  std::vector<float> xs(x.begin(), x.begin() + 13 * 77);
  Tensor ts = Tensor::from_floats(c, {13, 77}, DType::F32, xs);
  {
    Sequence s(c);
    group_norm(s, tx, tg, tb, tx, 32, 1e-5f, true);
    s.run();
  }
  test::expect_close(tx.download(c), ref::group_norm(x, g, b, 2, 64, 91, 32, 1e-5f, true), kTolF32,
                     "group_norm in place");
  Sequence s(c);
  softmax(s, ts, ts, 0.5f);
  s.run();
  test::expect_close(ts.download(c), ref::softmax(xs, 77, 0.5f), kTolF32, "softmax in place");
}

// More rows than the dispatch limit: the Sequence splits the grid, the shaders must use the
// base group in gl_WorkGroupID.
TEST_F(Norm, RowsOverDispatchLimit) {
  auto& c = test::ctx();
  c.set_dispatch_limit(5);
  auto x = test::random_vector(2 * 16 * 9, 71, -2.0f, 4.0f), g = test::random_vector(16, 72, 0.5f, 1.5f);
  auto b = test::random_vector(16, 73);
  Tensor tx = Tensor::from_floats(c, {2, 16, 9}, DType::F32, x), ty = Tensor::empty(c, {2, 16, 9}, DType::F32);
  Tensor tl = Tensor::empty(c, {32, 9}, DType::F32), tsm = Tensor::empty(c, {32, 9}, DType::F32);
  Tensor tg = Tensor::from_floats(c, {16}, DType::F32, g), tb = Tensor::from_floats(c, {16}, DType::F32, b);
  Tensor tg9 = tg.view(0, {9}, c), tb9 = tb.view(0, {9}, c);
  std::vector<float> g9(g.begin(), g.begin() + 9), b9(b.begin(), b.begin() + 9);
  Sequence s(c);
  group_norm(s, tx, tg, tb, ty, 16, 1e-5f);  // 32 rows
  layer_norm(s, tx.reshape({32, 9}), tg9, tb9, tl, 1e-5f);
  softmax(s, tx.reshape({32, 9}), tsm, 2.0f);
  s.run();
  c.set_dispatch_limit(UINT32_MAX);
  test::expect_close(ty.download(c), ref::group_norm(x, g, b, 2, 16, 9, 16, 1e-5f, false), kTolF32, "group_norm");
  test::expect_close(tl.download(c), ref::layer_norm(x, g9, b9, 9, 1e-5f), kTolF32, "layer_norm");
  test::expect_close(tsm.download(c), ref::softmax(x, 9, 2.0f), kTolF32, "softmax");
}

// The op's error names the op and the shapes.
template <class F>
void expect_error(F f, const std::string& contains) {
  try {
    f();
    ADD_FAILURE() << "no error; wanted one containing '" << contains << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(contains), std::string::npos) << e.what();
  }
}

TEST_F(Norm, WrongShapesThrow) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {2, 64, 4, 4}, DType::F32), y = Tensor::empty(c, {2, 64, 4, 4}, DType::F32);
  Tensor g64 = Tensor::empty(c, {64}, DType::F32), g32 = Tensor::empty(c, {32}, DType::F32);
  Tensor h64 = Tensor::empty(c, {64}, DType::F16), y16 = Tensor::empty(c, {2, 64, 4, 4}, DType::F16);
  Tensor y2 = Tensor::empty(c, {2, 64, 16}, DType::F32), v = Tensor::empty(c, {64}, DType::F32);
  Sequence s(c);
  expect_error([&] { group_norm(s, x, g64, g64, y, 24, 1e-5f); }, "group_norm: x [2,64,4,4]: 64 channels");
  expect_error([&] { group_norm(s, x, g64, g64, y, 0, 1e-5f); }, "group_norm");
  expect_error([&] { group_norm(s, x, g32, g64, y, 32, 1e-5f); }, "group_norm: x [2,64,4,4] needs gamma");
  expect_error([&] { group_norm(s, x, g64, g64, y2, 32, 1e-5f); }, "group_norm: shapes differ");
  expect_error([&] { group_norm(s, x, g64, g64, y16, 32, 1e-5f); }, "group_norm: storage types differ");
  expect_error([&] { group_norm(s, x, h64, h64, y, 32, 1e-5f); }, "group_norm: storage types differ");
  expect_error([&] { group_norm(s, v, v, v, v, 1, 1e-5f); }, "group_norm: x [64] must be [N, C, ...]");
  expect_error([&] { layer_norm(s, y2, g64, g64, y2, 1e-5f); }, "layer_norm: x [2,64,16] needs gamma");
  expect_error([&] { layer_norm(s, x, g32, g32, x, 1e-5f); }, "layer_norm");
  expect_error([&] { layer_norm(s, v, v, v, g32, 1e-5f); }, "layer_norm: shapes differ");
  expect_error([&] { softmax(s, x, y2); }, "softmax: shapes differ");
  expect_error([&] { softmax(s, x, y16); }, "softmax: storage types differ");
  EXPECT_EQ(s.dispatch_count(), 0u);
}

}  // namespace
