// The sinusoidal timestep embedding against its reference.
#include <cmath>

#include "core/error.h"
#include "ops/timestep_embedding.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

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
                           std::to_string(shift) + " " + dtype_name(dtype));
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
