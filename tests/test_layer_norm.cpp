#include "ops/layer_norm.h"

#include "core/error.h"
#include "tests/support/family_test.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;
using namespace sdvk::test::family;

namespace {

// ---- layer norm ----

void check_layer_norm(const Shape& shape, DType dt, std::vector<float> x, KernelFamily f) {
  auto& c = test::ctx();
  int64_t ch = shape.back();
  x = stored(x, dt);
  auto gamma = stored(test::random_vector(size_t(ch), 31, 0.5f, 1.5f), dt);
  auto beta = stored(test::random_vector(size_t(ch), 32, -0.5f, 0.5f), dt);
  Tensor tx = Tensor::from_floats(c, shape, dt, x), ty = Tensor::empty(c, shape, dt);
  Tensor tg = Tensor::from_floats(c, {ch}, dt, gamma), tb = Tensor::from_floats(c, {ch}, dt, beta);
  auto got = run([&](Sequence& s) { layer_norm(s, tx, tg, tb, ty, 1e-5f); }, ty, f);
  test::expect_close(got, ref::layer_norm(x, gamma, beta, ch, 1e-5f), tol(dt),
                     "layer_norm " + shape_str(shape) + " " + dtype_name(dt));
}

using LayerNormTest = CaseTest<Shape>;

TEST_P(LayerNormTest, MatchesReference) {
  auto shape = param();
  for (DType dt : {DType::F32, DType::F16})
    check_layer_norm(shape, dt, test::random_vector(size_t(shape_numel(shape)), 7, -2.0f, 4.0f), family());
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormTest,
                         ::testing::Combine(::testing::Values(Shape{2, 77, 320},   // CLIP's 77 tokens, 768 scaled
                                                              Shape{1, 256, 320},  // a UNet transformer block
                                                              Shape{1, 64}, Shape{13, 64}, Shape{127, 13},
                                                              Shape{3, 1},
                                                              Shape{1, 1 << 20}),  // past lavapipe's loop limit
                                            kFamilies),
                         [](const auto& info) {
                           return shape_name(std::get<0>(info.param)) + "_" + family_name(std::get<1>(info.param));
                         });

// ---- trained-model magnitudes ----

// Values ~1100 a few units apart, as trained activations can be (see test_group_norm.cpp), in
// float32 and float16 storage.
using Hot = FamilyTest;

TEST_P(Hot, LayerNorm) {
  family();
  auto x = test::random_vector(13 * 1280, 41, -8.0f, 8.0f);
  for (auto& v : x) v += 1100.0f;
  for (DType dt : {DType::F32, DType::F16}) check_layer_norm({13, 1280}, dt, x, family());
}

INSTANTIATE_TEST_SUITE_P(Families, Hot, kFamilies, family_test_name);

// ---- in place, split grids, errors ----

using LayerNorm = test::VkTest;

TEST_F(LayerNorm, InPlace) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 64 * 91, 61, -2.0f, 4.0f);
  auto g77 = test::random_vector(77, 64, 0.5f, 1.5f), b77 = test::random_vector(77, 65);
  std::vector<float> xs(x.begin(), x.begin() + 13 * 77);
  Tensor tl = Tensor::from_floats(c, {13, 77}, DType::F32, xs);
  Tensor tg77 = Tensor::from_floats(c, {77}, DType::F32, g77), tb77 = Tensor::from_floats(c, {77}, DType::F32, b77);
  Sequence s(c);
  layer_norm(s, tl, tg77, tb77, tl, 1e-5f);
  s.run();
  test::expect_close(tl.download(c), ref::layer_norm(xs, g77, b77, 77, 1e-5f), kTolF32, "layer_norm");
}

// More rows than the dispatch limit: the Sequence splits the grid, and the shaders must use
// the base group in gl_WorkGroupID.
TEST_F(LayerNorm, RowsOverDispatchLimit) {
  auto& c = test::ctx();
  auto x = test::random_vector(2 * 16 * 9, 71, -2.0f, 4.0f), g = test::random_vector(16, 72, 0.5f, 1.5f);
  auto b = test::random_vector(16, 73);
  std::vector<float> g9(g.begin(), g.begin() + 9), b9(b.begin(), b.begin() + 9);
  Tensor tx = Tensor::from_floats(c, {32, 9}, DType::F32, x), tl = Tensor::empty(c, {32, 9}, DType::F32);
  Tensor tg9 = Tensor::from_floats(c, {9}, DType::F32, g9), tb9 = Tensor::from_floats(c, {9}, DType::F32, b9);
  c.set_dispatch_limit(5);
  Sequence s(c);
  layer_norm(s, tx, tg9, tb9, tl, 1e-5f);  // 32 rows
  s.run();
  c.set_dispatch_limit(UINT32_MAX);
  test::expect_close(tl.download(c), ref::layer_norm(x, g9, b9, 9, 1e-5f), kTolF32, "layer_norm");
}

TEST_F(LayerNorm, WrongShapesThrow) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {2, 64, 4, 4}, DType::F32), y2 = Tensor::empty(c, {2, 64, 16}, DType::F32);
  Tensor g64 = Tensor::empty(c, {64}, DType::F32), g32 = Tensor::empty(c, {32}, DType::F32);
  Tensor v = Tensor::empty(c, {64}, DType::F32);
  Sequence s(c);
  expect_error([&] { layer_norm(s, y2, g64, g64, y2, 1e-5f); }, "layer_norm: x [2,64,16] needs gamma");
  expect_error([&] { layer_norm(s, x, g32, g32, x, 1e-5f); }, "layer_norm: x [2,64,4,4] needs gamma");
  expect_error([&] { layer_norm(s, v, v, v, g32, 1e-5f); }, "layer_norm: shapes differ");
  EXPECT_EQ(s.dispatch_count(), 0u);
}
}  // namespace
