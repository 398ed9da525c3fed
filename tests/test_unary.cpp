#include "ops/unary.h"

#include <cmath>

#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

struct UnaryCase {
  Activation f;
  int64_t n;
};

using Unary = test::VkTest;

class UnaryTest : public test::VkTest, public ::testing::WithParamInterface<UnaryCase> {};

std::string case_name(const ::testing::TestParamInfo<UnaryCase>& p) {
  const char* names[] = {"silu", "gelu", "quick_gelu"};
  return std::string(names[int(p.param.f)]) + "_" + std::to_string(p.param.n);
}

void run_case(Activation f, int64_t n, DType dtype, double tol) {
  auto& c = test::ctx();
  auto x = test::random_vector(size_t(n), uint32_t(n) + uint32_t(f), -6.0f, 6.0f);
  if (dtype == DType::F16) x = test::round_to_half(x);
  Tensor tx = Tensor::from_floats(c, {n}, dtype, x), ty = Tensor::empty(c, {n}, dtype);
  Sequence s(c);
  unary(s, f, tx, ty);
  s.run();
  test::expect_close(ty.download(c), ref::unary(f, x), tol, "unary n=" + std::to_string(n));
}

TEST_P(UnaryTest, Float32MatchesReference) { run_case(GetParam().f, GetParam().n, DType::F32, 1e-4); }

// float16 storage: the result is rounded once to float16, relative error <= 2^-11 of the value,
// so at most 2^-11 ~ 4.9e-4 of max |ref|; 1e-3 leaves room for the arithmetic's own 1e-6.
TEST_P(UnaryTest, Float16MatchesReference) { run_case(GetParam().f, GetParam().n, DType::F16, 1e-3); }

INSTANTIATE_TEST_SUITE_P(Shapes, UnaryTest,
                         ::testing::Values(UnaryCase{Activation::SiLU, 1}, UnaryCase{Activation::SiLU, 13},
                                           UnaryCase{Activation::GeluErf, 127},
                                           UnaryCase{Activation::GeluErf, 320 * 64 * 64},
                                           UnaryCase{Activation::QuickGelu, 1000}),
                         case_name);

// tanh-GELU differs from erf-GELU by up to ~1e-3 relative: the float32 bound must catch it.
TEST_F(Unary, GeluToleranceRejectsTanhApproximation) {
  std::vector<float> x = test::random_vector(4096, 7, -4.0f, 4.0f), tanh_gelu(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    double v = x[i];
    tanh_gelu[i] = float(0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
  }
  EXPECT_GT(test::relative_error(tanh_gelu, ref::unary(Activation::GeluErf, x)), 1e-4);
}

// 2^24 + 1 elements / 256 per group = 65537 groups: over lavapipe's 65535 limit, so the
// Sequence must split the dispatch (and the shader must use the base group offset).
TEST_F(Unary, DispatchOverGroupLimitIsSplit) {
  auto& c = test::ctx();
  int64_t n = (int64_t(1) << 24) + 1;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) x[size_t(i)] = float(i % 1000) * 0.01f - 5.0f;
  Tensor tx = Tensor::from_floats(c, {n}, DType::F32, x), ty = Tensor::empty(c, {n}, DType::F32);
  Sequence s(c);
  unary(s, Activation::SiLU, tx, ty);
  s.run();
  test::expect_close(ty.download(c), ref::unary(Activation::SiLU, x), 1e-4, "unary 2^24+1");
}

}  // namespace
