#include "ops/elementwise.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using Elementwise = test::VkTest;

std::string name_of(const Shape& a, const Shape& b, DType t) {
  return shape_str(a) + "," + shape_str(b) + " " + dtype_name(t);
}

// ---- binary ----

struct BinaryCase {
  BinaryOp op;
  Shape a, b;
};
void PrintTo(const BinaryCase& c, std::ostream* os) { *os << int(c.op) << " " << shape_str(c.a) << shape_str(c.b); }

class BinaryTest : public test::VkTest, public ::testing::WithParamInterface<BinaryCase> {};

void run_binary(const BinaryCase& c, DType dtype, double tol) {
  auto& ctx = test::ctx();
  auto a = test::random_vector(size_t(shape_numel(c.a)), 11, -2.0f, 2.0f);
  auto b = test::random_vector(size_t(shape_numel(c.b)), 12, -2.0f, 2.0f);
  if (dtype == DType::F16) a = test::round_to_half(a), b = test::round_to_half(b);
  Shape ys = broadcast_shape("test", c.a, c.b);
  Tensor ta = Tensor::from_floats(ctx, c.a, dtype, a), tb = Tensor::from_floats(ctx, c.b, dtype, b);
  Tensor ty = Tensor::empty(ctx, ys, dtype);
  Sequence s(ctx);
  binary(s, c.op, ta, tb, ty);
  s.run();
  test::expect_close(ty.download(ctx), ref::binary(c.op, a, c.a, b, c.b), tol, "binary " + name_of(c.a, c.b, dtype));
}

TEST_P(BinaryTest, Float32MatchesReference) { run_binary(GetParam(), DType::F32, 1e-4); }

// float16 storage: inputs are float16 values, the float32 result is rounded once to float16:
// error <= 2^-11 of the value, so <= 4.9e-4 of max |ref|.
TEST_P(BinaryTest, Float16MatchesReference) { run_binary(GetParam(), DType::F16, 1e-3); }

// Innermost (collapsed) dim a multiple of 4: the 4-per-invocation kernel, else the scalar one.
INSTANTIATE_TEST_SUITE_P(
    Shapes, BinaryTest,
    ::testing::Values(BinaryCase{BinaryOp::Add, {2, 320, 16, 16}, {2, 320, 1, 1}},  // resnet + time embedding
                      BinaryCase{BinaryOp::Add, {2, 77, 64}, {64}},                 // [B,T,C] + bias [C]
                      BinaryCase{BinaryOp::Sub, {2, 77, 64}, {1}},                  // minus a scalar
                      BinaryCase{BinaryOp::Mul, {1}, {13, 5}},                      // scalar on the left
                      BinaryCase{BinaryOp::Mul, {13, 1, 7}, {1, 5, 1}},             // both sides broadcast
                      BinaryCase{BinaryOp::Mul, {13, 1, 8}, {1, 5, 8}},             // same, 4 per invocation
                      BinaryCase{BinaryOp::Add, {127}, {127}},                      // equal shapes
                      BinaryCase{BinaryOp::Mul, {1}, {1}},
                      BinaryCase{BinaryOp::Sub, {2, 4, 13, 9}, {2, 4, 13, 9}},
                      BinaryCase{BinaryOp::Mul, {2, 8, 16, 16}, {2, 8, 16, 1}},        // one value per row
                      BinaryCase{BinaryOp::Sub, {3, 1, 5, 1, 4, 2}, {2, 5, 1, 4, 1}},  // 4 dims collapsed
                      BinaryCase{BinaryOp::Add, {2, 1, 3, 1, 5, 1}, {1, 2, 1, 4, 1, 3}}));  // 6, uncollapsible

// y = a in place, with and without a broadcast b.
TEST_F(Elementwise, BinaryInPlace) {
  auto& ctx = test::ctx();
  for (Shape bs : {Shape{2, 320, 16, 16}, Shape{2, 320, 1, 1}}) {
    Shape as{2, 320, 16, 16};
    auto a = test::random_vector(size_t(shape_numel(as)), 3), b = test::random_vector(size_t(shape_numel(bs)), 4);
    Tensor ta = Tensor::from_floats(ctx, as, DType::F32, a), tb = Tensor::from_floats(ctx, bs, DType::F32, b);
    Sequence s(ctx);
    binary(s, BinaryOp::Add, ta, tb, ta);
    s.run();
    test::expect_close(ta.download(ctx), ref::binary(BinaryOp::Add, a, as, b, bs), 1e-4, "in place " + shape_str(bs));
  }
}

// 2^24 + 1 elements: 65537 groups of 256, over lavapipe's 65535, so the Sequence splits the
// grid and the shader must index from the base group.
TEST_F(Elementwise, BinaryOverGroupLimit) {
  auto& ctx = test::ctx();
  int64_t n = (int64_t(1) << 24) + 1;
  std::vector<float> a(static_cast<size_t>(n)), b(a.size());
  for (size_t i = 0; i < a.size(); i++) a[i] = float(i % 1009) * 0.01f, b[i] = float(i % 997) * -0.02f;
  Tensor ta = Tensor::from_floats(ctx, {n}, DType::F32, a), tb = Tensor::from_floats(ctx, {n}, DType::F32, b);
  Tensor ty = Tensor::empty(ctx, {n}, DType::F32);
  Sequence s(ctx);
  binary(s, BinaryOp::Add, ta, tb, ty);
  s.run();
  test::expect_close(ty.download(ctx), ref::binary(BinaryOp::Add, a, {n}, b, {n}), 1e-4, "2^24+1");
}

TEST_F(Elementwise, BinaryRejectsBadArguments) {
  auto& ctx = test::ctx();
  auto t = [&](Shape s, DType d = DType::F32) { return Tensor::empty(ctx, s, d); };
  Sequence s(ctx);
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 3}), t({4}), t({2, 3})), Error);              // 3 vs 4
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 3}), t({3}), t({3})), Error);                 // y not broadcast
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 1}), t({1, 3}), t({2, 1})), Error);           // y too small
  EXPECT_THROW(binary(s, BinaryOp::Add, t({2, 3}), t({3}, DType::F16), t({2, 3})), Error);  // mixed dtypes
  EXPECT_THROW(binary(s, BinaryOp::Add, t({1, 1, 1, 1, 1, 1, 2}), t({2}), t({1, 1, 1, 1, 1, 1, 2})), Error);
  Tensor buf = t({64});  // y overlapping a, shifted by 4 elements
  EXPECT_THROW(binary(s, BinaryOp::Add, buf.view(4, {32}, ctx), t({1}), buf.view(0, {32}, ctx)), Error);
}

// ---- scale ----

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
TEST_F(Elementwise, ScaleFloat32) {
  for (int64_t n : {1, 13, 127, 2 * 4 * 32 * 32}) run_scale(n, DType::F32, 0.18215f, 0.0f, 1e-4);
  run_scale(1000, DType::F32, 1.0f / 0.18215f, 0.0f, 1e-4);
  run_scale(1000, DType::F32, 2.0f, -1.0f, 1e-4);
}

// float16: one rounding of the float32 result, <= 2^-11 of the value (see BinaryTest).
TEST_F(Elementwise, ScaleFloat16) {
  for (int64_t n : {1, 13, 127, 2 * 4 * 32 * 32}) run_scale(n, DType::F16, 0.18215f, 0.0f, 1e-3);
  run_scale(1000, DType::F16, 0.5f, 0.5f, 1e-3);
}

TEST_F(Elementwise, ScaleRejectsBadArguments) {
  auto& ctx = test::ctx();
  Sequence s(ctx);
  EXPECT_THROW(scale(s, Tensor::empty(ctx, {4, 4}, DType::F32), Tensor::empty(ctx, {16}, DType::F32), 2.0f), Error);
  EXPECT_THROW(scale(s, Tensor::empty(ctx, {4}, DType::F32), Tensor::empty(ctx, {4}, DType::F16), 2.0f), Error);
}

// ---- cast ----

// Equal as float bit patterns, except that any NaN matches any NaN.
void expect_same_values(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); i++) {
    bool same = std::isnan(want[i]) ? std::isnan(got[i]) : std::memcmp(&got[i], &want[i], 4) == 0;
    if (!same && bad++ < 5)
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << ", want " << want[i] << " (input index)";
  }
  EXPECT_EQ(bad, 0u) << what << ": mismatches";
}

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
TEST_F(Elementwise, CastFloat32ToFloat16RoundsLikePyTorch) {
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 70000.0f, -70000.0f, 1e30f,
                          kInf, -kInf, kNaN,
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
  EXPECT_EQ(want[7], kInf);  // 70000
  EXPECT_EQ(want[5], 65504.0f);
  EXPECT_EQ(want[19], 0x1p-24f);
  ASSERT_EQ(x.size() % 4, 0u);
  expect_same_values(cast_on_device(x, DType::F32, DType::F16), want, "f32 -> f16 (4 per invocation)");
  x.push_back(1.0f), want.push_back(1.0f);
  expect_same_values(cast_on_device(x, DType::F32, DType::F16), want, "f32 -> f16 (1 per invocation)");
}

// Every float16 bit pattern -> float32, against the format's definition.
TEST_F(Elementwise, CastFloat16ToFloat32AllValues) {
  auto& ctx = test::ctx();
  std::vector<uint16_t> h(65536);
  std::vector<float> want(h.size());
  for (uint32_t i = 0; i < h.size(); i++) {
    h[i] = uint16_t(i);
    int e = int(i >> 10) & 31, m = int(i & 1023);
    double mag = e == 31 ? (m ? kNaN : kInf) : e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
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
TEST_F(Elementwise, CastRoundTrips) {
  auto& ctx = test::ctx();
  for (int64_t n : {127, 128}) {
    auto x = test::random_vector(size_t(n), 9, -100.0f, 100.0f);
    x[0] = 70000.0f, x[1] = 3e-6f, x[2] = -kInf, x[3] = kNaN;
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
    EXPECT_EQ(halves[0], kInf);
    EXPECT_GT(halves[1], 0.0f);  // a float16 subnormal survives
  }
}

TEST_F(Elementwise, CastRejectsBadArguments) {
  auto& ctx = test::ctx();
  Sequence s(ctx);
  EXPECT_THROW(cast(s, Tensor::empty(ctx, {4, 4}, DType::F32), Tensor::empty(ctx, {4, 5}, DType::F16)), Error);
}

// ---- nonfinite ----

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

TEST_F(Elementwise, NonfiniteCountsPlantedValues) {
  for (DType dtype : {DType::F32, DType::F16}) {
    for (int64_t n : {1, 13, 4097, 2 * 4 * 64 * 64}) {
      std::string what = std::string(dtype_name(dtype)) + " n=" + std::to_string(n);
      auto x = test::random_vector(size_t(n), 1, -1000.0f, 1000.0f);
      EXPECT_EQ(count_on_device(x, dtype), 0u) << what;
      for (float bad : {kNaN, kInf, -kInf}) {
        auto y = x;
        y[0] = y[size_t(n) / 2] = y[size_t(n) - 1] = bad;
        EXPECT_EQ(count_on_device(y, dtype), ref::nonfinite(y)) << what << " with " << bad;
      }
    }
  }
}

// Many non-finite values: every workgroup adds a large count; 70000 is finite in float32 only.
TEST_F(Elementwise, NonfiniteCountsDenseValues) {
  std::vector<float> x(100000);
  for (size_t i = 0; i < x.size(); i++) x[i] = i % 3 == 0 ? kNaN : i % 3 == 1 ? 70000.0f : 1.0f;
  EXPECT_EQ(count_on_device(x, DType::F32), 33334u);
  EXPECT_EQ(count_on_device(x, DType::F16), 66667u);  // 70000 is Inf as float16
}

TEST_F(Elementwise, NonfiniteRejectsBadCount) {
  auto& ctx = test::ctx();
  Sequence s(ctx);
  Tensor x = Tensor::empty(ctx, {16}, DType::F32);
  EXPECT_THROW(nonfinite(s, x, Tensor::empty(ctx, {2}, DType::F32)), Error);
  EXPECT_THROW(nonfinite(s, x, Tensor::empty(ctx, {1}, DType::F16)), Error);
  EXPECT_THROW(nonfinite(s, x, x.view(0, {1}, ctx)), Error);  // count inside x
}

// ---- grids split into many pieces ----

// A dispatch limit of 7 groups splits every grid here into several pieces.
class SmallDispatchLimit : public test::VkTest {
 protected:
  void SetUp() override {
    test::VkTest::SetUp();
    test::ctx().set_dispatch_limit(7);
  }
  void TearDown() override {
    test::ctx().set_dispatch_limit(UINT32_MAX);  // back to the device's own limit
    test::VkTest::TearDown();
  }
};

TEST_F(SmallDispatchLimit, AllOpsCoverEveryElement) {
  auto& ctx = test::ctx();
  // 12480 elements: 13 groups of 1024 (4 per invocation) or 49 groups of 256.
  Shape as{3, 20, 16, 13}, bs{3, 20, 1, 1};
  auto a = test::random_vector(size_t(shape_numel(as)), 21), b = test::random_vector(size_t(shape_numel(bs)), 22);
  a[a.size() - 1] = kNaN;  // in the last piece
  Tensor ta = Tensor::from_floats(ctx, as, DType::F32, a), tb = Tensor::from_floats(ctx, bs, DType::F32, b);
  Tensor row = Tensor::from_floats(ctx, {13}, DType::F32, std::vector<float>(b.begin(), b.begin() + 13));
  Tensor prod = Tensor::empty(ctx, as, DType::F32), sum = Tensor::empty(ctx, as, DType::F32);
  Tensor scaled = Tensor::empty(ctx, as, DType::F32);
  Tensor half = Tensor::empty(ctx, as, DType::F16), count = Tensor::empty(ctx, {1}, DType::F32);
  // nonfinite's grid: 15 groups of 4096, for 4 per invocation (57352) and for 1 (57349).
  std::vector<float> big(7 * 4096 * 2 + 8, 1.0f);
  big[57348] = -kInf;
  Tensor tbig = Tensor::from_floats(ctx, {int64_t(big.size())}, DType::F32, big);
  Tensor tbig_odd = tbig.view(0, {57349}, ctx);
  Tensor count_big = Tensor::empty(ctx, {1}, DType::F32), count_odd = Tensor::empty(ctx, {1}, DType::F32);
  Sequence s(ctx);
  binary(s, BinaryOp::Mul, ta, tb, prod);  // 4 per invocation: 13 groups
  binary(s, BinaryOp::Add, ta, row, sum);  // innermost dim 13, 1 per invocation: 49 groups
  scale(s, ta, scaled, 3.0f, 1.0f);
  cast(s, ta, half);
  nonfinite(s, ta, count);
  nonfinite(s, tbig, count_big);
  nonfinite(s, tbig_odd, count_odd);
  s.run();
  auto ref_mul = ref::binary(BinaryOp::Mul, a, as, b, bs), ref_scale = ref::scale(a, 3.0f, 1.0f);
  auto ref_add = ref::binary(BinaryOp::Add, a, as, std::vector<float>(b.begin(), b.begin() + 13), {13});
  std::vector<float> ref_half(a.size());
  for (size_t i = 0; i < a.size(); i++) ref_half[i] = ref::to_half(a[i]);
  // float32 sums and products are correctly rounded, as the reference's double result rounded.
  expect_same_values(prod.download(ctx), ref_mul, "binary mul");
  expect_same_values(sum.download(ctx), ref_add, "binary add");
  expect_same_values(half.download(ctx), ref_half, "cast");
  auto got_scale = scaled.download(ctx);
  got_scale.pop_back(), ref_scale.pop_back();  // the NaN
  test::expect_close(got_scale, ref_scale, 1e-4, "scale");
  EXPECT_EQ(read_count(ctx, count), 1u);
  EXPECT_EQ(read_count(ctx, count_big), 1u);
  EXPECT_EQ(read_count(ctx, count_odd), 1u);
}

}  // namespace
