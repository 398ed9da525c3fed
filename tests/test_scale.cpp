#include "ops/scale.h"


#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Scale = test::VkTest;

void run_scale(int64_t n, DType dtype, float alpha, float beta, double tol) {
  auto& ctx = test::ctx();
  auto x = test::random_vector(size_t(n), uint32_t(n), -3.0f, 3.0f);
  if (dtype == DType::F16) x = test::round_to_half(x);
  Tensor tx = Tensor::from_floats(ctx, {n}, dtype, x), ty = Tensor::empty(ctx, {n}, dtype);
  Sequence s(ctx);
  scale(s, tx, ty, alpha, beta);
  scale(s, tx, tx, alpha, beta);  // in place
  s.run();
  auto want = ref::scale(x, alpha, beta);
  std::string what = "scale n=" + std::to_string(n) + " " + dtype_name(dtype);
  test::expect_close(ty.download(ctx), want, tol, what);
  test::expect_close(tx.download(ctx), want, tol, what + " in place");
}

// Latent scaling (0.18215 and back) and the VAE's [0,1] <-> [-1,1] maps; 2*4*32*32 is a latent.
TEST_F(Scale, Float32) {
  for (int64_t n : {1, 13, 127, 2 * 4 * 32 * 32}) run_scale(n, DType::F32, 0.18215f, 0.0f, 1e-4);
  run_scale(1000, DType::F32, 1.0f / 0.18215f, 0.0f, 1e-4);
  run_scale(1000, DType::F32, 2.0f, -1.0f, 1e-4);
}

// float16: one rounding of the float32 result, <= 2^-11 of the value (see test_binary.cpp).
TEST_F(Scale, Float16) {
  for (int64_t n : {1, 13, 127, 2 * 4 * 32 * 32}) run_scale(n, DType::F16, 0.18215f, 0.0f, 1e-3);
  run_scale(1000, DType::F16, 0.5f, 0.5f, 1e-3);
}

TEST_F(Scale, RejectsBadArguments) {
  auto& ctx = test::ctx();
  Sequence s(ctx);
  EXPECT_THROW(scale(s, Tensor::empty(ctx, {4, 4}, DType::F32), Tensor::empty(ctx, {16}, DType::F32), 2.0f), Error);
  EXPECT_THROW(scale(s, Tensor::empty(ctx, {4}, DType::F32), Tensor::empty(ctx, {4}, DType::F16), 2.0f), Error);
}

using SmallDispatchLimit = test::SmallDispatchLimit;  // grids of at most 7 groups

TEST_F(SmallDispatchLimit, ScaleCoversEveryElement) {
  std::vector<float> a = test::split_grid_values(), want = ref::scale(a, 3.0f, 1.0f);
  Tensor x = Tensor::from_floats(test::ctx(), test::kSplitGridShape, DType::F32, a);
  Tensor y = Tensor::empty(test::ctx(), test::kSplitGridShape, DType::F32);
  Sequence s(test::ctx());
  scale(s, x, y, 3.0f, 1.0f);
  s.run();
  std::vector<float> got = y.download(test::ctx());
  got.pop_back(), want.pop_back();  // the NaN
  test::expect_close(got, want, 1e-4, "scale");
}

}  // namespace
