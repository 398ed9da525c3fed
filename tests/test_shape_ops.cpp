// GEGLU, nearest 2x upsampling, concat and the timestep embedding against their references.
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "ops/concat.h"
#include "ops/geglu.h"
#include "ops/timestep_embedding.h"
#include "ops/upsample.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

const char* dname(DType t) { return t == DType::F32 ? "f32" : "f16"; }

// Random values in [lo, hi), rounded to float16 when the tensor stores float16.
std::vector<float> input(int64_t n, uint32_t seed, DType dtype, float lo = -1.0f, float hi = 1.0f) {
  auto v = test::random_vector(size_t(n), seed, lo, hi);
  return dtype == DType::F16 ? test::round_to_half(v) : v;
}

// ---------------------------------------------------------------- GEGLU

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
  auto x = input(shape_numel(xs), uint32_t(shape_numel(xs)), dtype, -4.0f, 4.0f);
  Tensor tx = Tensor::from_floats(c, xs, dtype, x), ty = Tensor::empty(c, ys, dtype);
  Sequence s(c);
  geglu(s, tx, ty);
  s.run();
  // float32: only erf_approx's 1.2e-7 and float rounding. float16: the result is rounded once
  // to float16 (<= 2^-11 ~ 4.9e-4 of its value, so of max |ref|); 1e-3 leaves room for the rest.
  double tol = dtype == DType::F32 ? 1e-4 : 1e-3;
  test::expect_close(ty.download(c), ref::geglu(x, ys.back()), tol, "geglu " + shape_str(xs) + " " + dname(dtype));
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

// ---------------------------------------------------------------- upsample

struct UpsampleCase {
  Shape x;  // [N,C,H,W]
  DType dtype;
};

class UpsampleTest : public test::VkTest, public ::testing::WithParamInterface<UpsampleCase> {};

// A copy: exact in both storage types. W % 4 == 0 takes the 4-wide kernel, other W the scalar one.
TEST_P(UpsampleTest, MatchesReferenceExactly) {
  auto& c = test::ctx();
  const auto& [xs, dtype] = GetParam();
  auto x = input(shape_numel(xs), 11, dtype);
  Tensor tx = Tensor::from_floats(c, xs, dtype, x);
  Tensor ty = Tensor::empty(c, {xs[0], xs[1], 2 * xs[2], 2 * xs[3]}, dtype);
  Sequence s(c);
  upsample_nearest2x(s, tx, ty);
  s.run();
  test::expect_close(ty.download(c), ref::upsample_nearest2x(x, xs[0], xs[1], xs[2], xs[3]), 0.0,
                     "upsample " + shape_str(xs) + " " + dname(dtype));
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
      auto x = input(shape_numel(xs), 12, dtype);
      Tensor tx = Tensor::from_floats(c, xs, dtype, x), ty = Tensor::empty(c, ys, dtype);
      Sequence s(c);
      upsample_nearest(s, tx, ty);
      s.run();
      test::expect_close(ty.download(c), ref::upsample_nearest(x, xs[0], xs[1], xs[2], xs[3], ys[2], ys[3]), 0.0,
                         "upsample " + shape_str(xs) + " -> " + shape_str(ys) + " " + dname(dtype));
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

// ---------------------------------------------------------------- concat

struct ConcatCase {
  std::vector<Shape> inputs;
  int dim;
  DType dtype;
};

class ConcatTest : public test::VkTest, public ::testing::WithParamInterface<ConcatCase> {};

// A copy: exact in both storage types. Rows of whole 64-byte blocks take the block kernel
// (marked "block" below), others the per-element one.
TEST_P(ConcatTest, MatchesReferenceExactly) {
  auto& c = test::ctx();
  const auto& [shapes, dim, dtype] = GetParam();
  const size_t d = size_t(dim < 0 ? dim + int(shapes[0].size()) : dim);
  Shape ys = shapes[0];
  ys[d] = 0;
  std::vector<std::vector<float>> xs;
  std::vector<Tensor> txs;
  std::string what = "concat";
  for (size_t i = 0; i < shapes.size(); i++) {
    xs.push_back(input(shape_numel(shapes[i]), uint32_t(100 + i), dtype));
    txs.push_back(Tensor::from_floats(c, shapes[i], dtype, xs.back()));
    ys[d] += shapes[i][d];
    what += " " + shape_str(shapes[i]);
  }
  Tensor ty = Tensor::empty(c, ys, dtype);
  Sequence s(c);
  concat(s, txs, dim, ty);
  s.run();
  test::expect_close(ty.download(c), ref::concat(xs, shapes, dim), 0.0,
                     what + " dim " + std::to_string(dim) + " " + dname(dtype));
}

std::vector<ConcatCase> concat_cases() {
  std::vector<ConcatCase> cases;
  for (DType t : {DType::F32, DType::F16}) {
    cases.push_back({{{2, 32, 8, 8}, {2, 64, 8, 8}}, 1, t});               // UNet skip connection, block
    cases.push_back({{{2, 16, 4, 4}, {2, 16, 4, 4}, {2, 32, 4, 4}}, 1, t});  // three inputs, block
    cases.push_back({{{2, 8, 16}, {1, 8, 16}}, 0, t});                     // dim 0, block
    cases.push_back({{{1, 3, 5, 7}, {1, 1, 5, 7}, {1, 13, 5, 7}}, 1, t});  // three inputs
    cases.push_back({{{2, 3, 4}, {5, 3, 4}}, 0, t});                       // dim 0
    cases.push_back({{{3, 5, 7}, {3, 5, 1}, {3, 5, 13}}, -1, t});          // last dim, negative
    cases.push_back({{{2, 4, 13, 7}, {2, 4, 1, 7}}, 2, t});                // non-square, rows
    cases.push_back({{{1, 1, 1, 1}, {1, 127, 1, 1}}, 1, t});               // 1-element input
    cases.push_back({{{4, 9}}, 1, t});                                     // single input: a copy
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConcatTest, ::testing::ValuesIn(concat_cases()));

using Concat = test::VkTest;

TEST_F(Concat, WrongShapesThrow) {
  auto& c = test::ctx();
  Sequence s(c);
  auto f32 = [&](const Shape& sh) { return Tensor::empty(c, sh, DType::F32); };
  Tensor a = f32({2, 3, 4, 4}), b = f32({2, 5, 4, 4});
  EXPECT_THROW(concat(s, {a, f32({2, 5, 4, 3})}, 1, f32({2, 8, 4, 4})), Error);  // differs off dim
  EXPECT_THROW(concat(s, {a, f32({1, 5, 4, 4})}, 1, f32({2, 8, 4, 4})), Error);  // differs off dim
  EXPECT_THROW(concat(s, {a, b}, 1, f32({2, 9, 4, 4})), Error);                  // sizes do not sum
  EXPECT_THROW(concat(s, {a, b}, 4, f32({2, 8, 4, 4})), Error);                  // dim out of range
  EXPECT_THROW(concat(s, {a, f32({2, 5, 4})}, 1, f32({2, 8, 4, 4})), Error);     // rank differs
  EXPECT_THROW(concat(s, {}, 1, f32({2, 8, 4, 4})), Error);                      // no inputs
  EXPECT_THROW(concat(s, {a, Tensor::empty(c, {2, 5, 4, 4}, DType::F16)}, 1, f32({2, 8, 4, 4})), Error);
  EXPECT_EQ(s.dispatch_count(), 0u);
}

// ---------------------------------------------------------------- timestep embedding

struct TimestepCase {
  int64_t dim;
  bool flip;
  float shift;
};

class TimestepTest : public test::VkTest, public ::testing::WithParamInterface<TimestepCase> {
 protected:
  void run(const std::vector<float>& t, DType dtype, double tol) {
    auto& c = test::ctx();
    const auto& [dim, flip, shift] = GetParam();
    TimestepEmbeddingParams p;
    p.flip_sin_to_cos = flip;
    p.downscale_freq_shift = shift;
    int64_t b = int64_t(t.size());
    Tensor tt = Tensor::from_floats(c, {b}, DType::F32, t), ty = Tensor::empty(c, {b, dim}, dtype);
    Sequence s(c);
    timestep_embedding(s, tt, ty, p);
    s.run();
    test::expect_close(ty.download(c), ref::timestep_embedding(t, dim, p), tol,
                       "timestep_embedding dim " + std::to_string(dim) + (flip ? " flip" : "") + " shift " +
                           std::to_string(shift) + " " + dname(dtype));
  }
};

// Arguments up to ~1000 are where float32 rounding and poor sin/cos show.
const std::vector<float> kTimesteps{0.0f, 1.0f, 500.0f, 999.0f, 1000.5f};

// Tighter than the usual 1e-4: at t ~ 1000 one float32 ulp of the argument is 6e-5, so 1e-4
// cannot tell float32 from double arguments (ToleranceSeesFloat32Argument). Computing freq and
// t * freq in float32 exactly as PyTorch does leaves only sin/cos rounding (~6e-8).
constexpr double kTimestepF32Tol = 1e-5;

TEST_P(TimestepTest, Float32MatchesReference) {
  run(kTimesteps, DType::F32, kTimestepF32Tol);
  run({999.0f, 3.0f}, DType::F32, kTimestepF32Tol);  // batch 2, different t
}

// float16 storage: values in [-1, 1] rounded once to float16 (<= 2^-11 ~ 4.9e-4 absolute) on top
// of the float32 error above; max |ref| is 1 (cos(0) = 1), so 1e-3 relative.
TEST_P(TimestepTest, Float16MatchesReference) { run(kTimesteps, DType::F16, 1e-3); }

INSTANTIATE_TEST_SUITE_P(Shapes, TimestepTest,
                         ::testing::Values(TimestepCase{320, true, 0.0f}, TimestepCase{320, false, 1.0f},
                                           TimestepCase{32, true, 0.0f}, TimestepCase{32, false, 0.0f},
                                           TimestepCase{32, true, 1.0f}, TimestepCase{13, true, 0.0f},
                                           TimestepCase{13, false, 1.0f}));

using Timestep = test::VkTest;

// The float32 bound must be able to see the float32 argument: computing freq and t * freq in
// double instead (as a naive reference would) is off by ~4e-5 at t ~ 1000.
TEST_F(Timestep, ToleranceSeesFloat32Argument) {
  const int64_t dim = 320, half = dim / 2;
  std::vector<float> t{999.0f, 1000.5f};
  std::vector<float> wide(t.size() * size_t(dim));
  for (size_t b = 0; b < t.size(); b++)
    for (int64_t j = 0; j < half; j++) {
      double arg = double(t[b]) * std::exp(-std::log(10000.0) * double(j) / double(half));
      wide[b * dim + j] = float(std::cos(arg));
      wide[b * dim + half + j] = float(std::sin(arg));
    }
  EXPECT_GT(test::relative_error(wide, ref::timestep_embedding(t, dim)), kTimestepF32Tol);
}

TEST_F(Timestep, ScaleAndMaxPeriod) {
  auto& c = test::ctx();
  TimestepEmbeddingParams p;
  p.scale = 0.5f;
  p.max_period = 1000;
  std::vector<float> t{999.0f, 17.25f, 1000.5f};
  Tensor tt = Tensor::from_floats(c, {3}, DType::F32, t), ty = Tensor::empty(c, {3, 64}, DType::F32);
  Sequence s(c);
  timestep_embedding(s, tt, ty, p);
  s.run();
  test::expect_close(ty.download(c), ref::timestep_embedding(t, 64, p), kTimestepF32Tol,
                     "timestep_embedding scale 0.5");
}

TEST_F(Timestep, WrongShapesThrow) {
  auto& c = test::ctx();
  Sequence s(c);
  Tensor t = Tensor::empty(c, {2}, DType::F32);
  EXPECT_THROW(timestep_embedding(s, t, Tensor::empty(c, {3, 32}, DType::F32)), Error);  // batch differs
  EXPECT_THROW(timestep_embedding(s, t, Tensor::empty(c, {2, 32, 1}, DType::F32)), Error);
  EXPECT_THROW(timestep_embedding(s, Tensor::empty(c, {2}, DType::F16), Tensor::empty(c, {2, 32}, DType::F32)),
               Error);  // float16 timesteps
  TimestepEmbeddingParams p;
  p.downscale_freq_shift = 1.0f;  // dim/2 - shift = 0: diffusers would divide by zero
  EXPECT_THROW(timestep_embedding(s, t, Tensor::empty(c, {2, 2}, DType::F32), p), Error);
  EXPECT_EQ(s.dispatch_count(), 0u);
}

}  // namespace
