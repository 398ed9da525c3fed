#include "ops/cast.h"

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using Cast = test::VkTest;
using test::expect_same_values;

std::vector<float> cast_on_device(const std::vector<float>& x, DType from, DType to) {
  auto& ctx = test::ctx();
  int64_t n = int64_t(x.size());
  Tensor tx = Tensor::from_floats(ctx, {n}, from, x), ty = Tensor::empty(ctx, {n}, to);
  Sequence s(ctx);
  cast(s, tx, ty);
  s.run();
  return ty.download(ctx);
}

// float32 -> float16 on edge values and on random bit patterns (every exponent, NaNs and Infs).
TEST_F(Cast, Float32ToFloat16RoundsLikePyTorch) {
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 70000.0f, -70000.0f, 1e30f,
                          test::kInf, -test::kInf, test::kNaN,
                          1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f,         // ties: to even (down, up)
                          0x1p-14f, 0x1p-15f, 1e-5f, -3e-6f, 0x1p-24f,  // smallest normal, subnormals
                          0x1p-25f, 0x1.8p-25f, 0x1p-26f, 1e-40f};       // half the smallest: 0; above: up
  std::mt19937 rng(5);
  for (int i = 0; i < 100000; i++) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    x.push_back(f);
  }
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); i++) want[i] = ref::to_half(x[i]);
  EXPECT_EQ(want[7], test::kInf);  // 70000
  EXPECT_EQ(want[5], 65504.0f);
  EXPECT_EQ(want[19], 0x1p-24f);
  ASSERT_EQ(x.size() % 4, 0u);
  expect_same_values(cast_on_device(x, DType::F32, DType::F16), want, "f32 -> f16 (4 per invocation)");
  x.push_back(1.0f), want.push_back(1.0f);
  expect_same_values(cast_on_device(x, DType::F32, DType::F16), want, "f32 -> f16 (1 per invocation)");
}

// Every float16 bit pattern -> float32, against the format's definition.
TEST_F(Cast, Float16ToFloat32AllValues) {
  auto& ctx = test::ctx();
  std::vector<uint16_t> h(65536);
  std::vector<float> want(h.size());
  for (uint32_t i = 0; i < h.size(); i++) {
    h[i] = uint16_t(i);
    int e = int(i >> 10) & 31, m = int(i & 1023);
    double mag = e == 31   ? (m ? test::kNaN : test::kInf)
                 : e == 0 ? std::ldexp(m, -24)
                          : std::ldexp(1024 + m, e - 25);
    want[i] = float(i & 0x8000 ? -mag : mag);
  }
  for (int64_t n : {65536, 65535}) {  // 4 elements per invocation, and 1
    Tensor tx = Tensor::empty(ctx, {n}, DType::F16), ty = Tensor::empty(ctx, {n}, DType::F32);
    tx.upload_bytes(ctx, h.data(), uint64_t(n) * 2);
    Sequence s(ctx);
    cast(s, tx, ty);
    s.run();
    expect_same_values(ty.download(ctx), std::vector<float>(want.begin(), want.begin() + n), "f16 -> f32");
  }
}

// Round trips on the device and same-type copies (bit-exact), for 1 and 4 per invocation.
TEST_F(Cast, RoundTrips) {
  auto& ctx = test::ctx();
  for (int64_t n : {127, 128}) {
    auto x = test::random_vector(size_t(n), 9, -100.0f, 100.0f);
    x[0] = 70000.0f, x[1] = 3e-6f, x[2] = -test::kInf, x[3] = test::kNaN;
    std::vector<float> halves(x.size());
    for (size_t i = 0; i < x.size(); i++) halves[i] = ref::to_half(x[i]);
    Tensor x32 = Tensor::from_floats(ctx, {n}, DType::F32, x), x16 = Tensor::empty(ctx, {n}, DType::F16);
    Tensor back = Tensor::empty(ctx, {n}, DType::F32), copy16 = Tensor::empty(ctx, {n}, DType::F16);
    Tensor copy32 = Tensor::empty(ctx, {n}, DType::F32);
    Sequence s(ctx);
    cast(s, x32, x16);
    cast(s, x16, back);
    cast(s, x16, copy16);
    cast(s, x32, copy32);
    s.run();
    std::string what = " n=" + std::to_string(n);
    expect_same_values(back.download(ctx), halves, "f32 -> f16 -> f32" + what);
    expect_same_values(copy16.download(ctx), halves, "f16 -> f16" + what);
    expect_same_values(copy32.download(ctx), x, "f32 -> f32" + what);
    EXPECT_EQ(halves[0], test::kInf);
    EXPECT_GT(halves[1], 0.0f);  // a float16 subnormal survives
  }
}

TEST_F(Cast, RejectsBadArguments) {
  auto& ctx = test::ctx();
  Sequence s(ctx);
  EXPECT_THROW(cast(s, Tensor::empty(ctx, {4, 4}, DType::F32), Tensor::empty(ctx, {4, 5}, DType::F16)), Error);
}

using SmallDispatchLimit = test::SmallDispatchLimit;  // grids of at most 7 groups

TEST_F(SmallDispatchLimit, CastCoversEveryElement) {
  const std::vector<float> a = test::split_grid_values();
  std::vector<float> halves(a.size());
  for (size_t i = 0; i < a.size(); i++) halves[i] = ref::to_half(a[i]);
  expect_same_values(cast_on_device(a, DType::F32, DType::F16), halves, "cast");
}

}  // namespace
