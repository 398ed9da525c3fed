#include "ops/matmul.h"

#include <cmath>
#include <cstdint>
#include <ostream>
#include <optional>
#include <string>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

// float32: sums of up to 1280 products in float32 stay within ~1e-6 of max |ref|.
// float16 storage: inputs are rounded before the reference sees them, sums run in float32 and
// the result is rounded once to float16 (relative 2^-11 ~ 4.9e-4 of a value <= max |ref|);
// 1e-3 covers that with room for the float32 arithmetic.
double tolerance(DType t) { return t == DType::F32 ? 1e-4 : 1e-3; }
const char* family_name(KernelFamily f) { return f == KernelFamily::Cpu ? "cpu" : "gpu"; }

// Forces one kernel family for the scope of a test, then gives the choice back to the device.
struct FamilyScope {
  explicit FamilyScope(KernelFamily f) { test::ctx().set_kernel_family(f); }
  ~FamilyScope() { test::ctx().set_kernel_family(KernelFamily::Auto); }
};

std::vector<float> rand_for(DType t, size_t n, uint32_t seed) {
  auto v = test::random_vector(n, seed);
  return t == DType::F16 ? test::round_to_half(v) : v;
}

struct LinearCase {
  std::string name;
  Shape x;  // [..., K]
  int64_t N;
  bool bias = true;
  std::optional<Activation> act = std::nullopt;
  bool residual = false;
  bool in_place = false;  // residual is y itself
};
void PrintTo(const LinearCase& lc, std::ostream* os) { *os << lc.name; }

const char* layout_name(WeightLayout l) { return l == WeightLayout::OutIn ? "out_in" : "in_out"; }

std::vector<float> transposed(const std::vector<float>& v, int64_t rows, int64_t cols) {
  std::vector<float> t(v.size());
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) t[size_t(c * rows + r)] = v[size_t(r * cols + c)];
  return t;
}

void run_linear(const LinearCase& lc, KernelFamily family, DType dt, WeightLayout layout = WeightLayout::OutIn) {
  FamilyScope scope(family);
  auto& c = test::ctx();
  int64_t K = lc.x.back(), M = shape_numel(lc.x) / K, N = lc.N;
  Shape y_shape = lc.x;
  y_shape.back() = N;
  auto x = rand_for(dt, size_t(M * K), 1), w = rand_for(dt, size_t(N * K), 2);
  auto bias = lc.bias ? rand_for(dt, size_t(N), 3) : std::vector<float>{};
  auto res = lc.residual ? rand_for(dt, size_t(M * N), 4) : std::vector<float>{};
  Tensor tx = Tensor::from_floats(c, lc.x, dt, x);
  Tensor tw = layout == WeightLayout::OutIn ? Tensor::from_floats(c, {N, K}, dt, w)
                                            : Tensor::from_floats(c, {K, N}, dt, transposed(w, N, K));
  Tensor tb = lc.bias ? Tensor::from_floats(c, {N}, dt, bias) : Tensor();
  Tensor ty = lc.in_place ? Tensor::from_floats(c, y_shape, dt, res) : Tensor::empty(c, y_shape, dt);
  Tensor tr = lc.residual && !lc.in_place ? Tensor::from_floats(c, y_shape, dt, res) : ty;
  Epilogue ep;
  if (lc.act) ep.has_activation = true, ep.activation = *lc.act;
  if (lc.residual) ep.residual = &tr;
  Sequence s(c);
  linear(s, tx, tw, lc.bias ? &tb : nullptr, ty, ep, layout);
  s.run();
  test::expect_close(ty.download(c), ref::linear(x, w, bias, M, K, N, lc.act, res), tolerance(dt),
                     lc.name + " " + family_name(family) + " " + dtype_name(dt) + " " + layout_name(layout));
}

class LinearTest : public test::VkTest,
                   public ::testing::WithParamInterface<std::tuple<LinearCase, KernelFamily, DType, WeightLayout>> {};

TEST_P(LinearTest, MatchesReference) {
  auto [lc, family, dt, layout] = GetParam();
  run_linear(lc, family, dt, layout);
}

// K % 8 == 0 and K % 16 == 0 take the CPU kernel's vector path for float32 and float16; other
// K the scalar one (the tiled kernel's vector loads need K % 4 == 0). With the in_out layout
// the CPU kernel's vector path also needs N % 4 == 0 (n127: the scalar one).
const LinearCase kLinearCases[] = {
    {"sd_ff_proj", {256, 320}, 1280},               // UNet feed-forward at 16x16 latents
    {"sd_text", {77, 64}, 256},                     // text tokens, scaled down
    {"batch_dims", {2, 13, 64}, 40},                // [B, T, C] flattened to 26 rows
    {"m1", {1, 320}, 320},                          // one row
    {"m13_k13_n127", {13, 13}, 127, false},         // no bias, awkward everything
    {"m127_k127_n13", {127, 127}, 13},              // K not a multiple of 4
    {"k1", {13, 1}, 13},                            // one term per sum
    {"n127", {64, 96}, 127, false},                 // ragged last column block
    {"silu", {64, 64}, 72, true, Activation::SiLU},
    {"gelu", {64, 64}, 72, true, Activation::GeluErf},
    {"quick_gelu", {64, 64}, 72, false, Activation::QuickGelu},
    {"residual", {100, 48}, 64, true, std::nullopt, true},
    {"gelu_residual", {13, 40}, 127, true, Activation::GeluErf, true},
    {"in_place_residual", {64, 320}, 320, true, std::nullopt, true, true},
};

std::string linear_name(const ::testing::TestParamInfo<LinearTest::ParamType>& info) {
  auto [lc, family, dt, layout] = info.param;
  return lc.name + "_" + family_name(family) + "_" + dtype_name(dt) + "_" + layout_name(layout);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearTest,
                         ::testing::Combine(::testing::ValuesIn(kLinearCases),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu),
                                            ::testing::Values(DType::F32, DType::F16),
                                            ::testing::Values(WeightLayout::OutIn, WeightLayout::InOut)),
                         linear_name);

struct BmmCase {
  std::string name;
  int64_t B, M, K, N;
  bool trans;
  float alpha;
};
void PrintTo(const BmmCase& bc, std::ostream* os) { *os << bc.name; }

void run_bmm(const BmmCase& bc, KernelFamily family, DType dt) {
  FamilyScope scope(family);
  auto& c = test::ctx();
  auto a = rand_for(dt, size_t(bc.B * bc.M * bc.K), 5), b = rand_for(dt, size_t(bc.B * bc.K * bc.N), 6);
  Tensor ta = Tensor::from_floats(c, {bc.B, bc.M, bc.K}, dt, a);
  Tensor tb = Tensor::from_floats(c, bc.trans ? Shape{bc.B, bc.N, bc.K} : Shape{bc.B, bc.K, bc.N}, dt, b);
  Tensor tc = Tensor::empty(c, {bc.B, bc.M, bc.N}, dt);
  Sequence s(c);
  batched_matmul(s, ta, tb, bc.trans, tc, bc.alpha);
  s.run();
  test::expect_close(tc.download(c), ref::batched_matmul(a, b, bc.B, bc.M, bc.K, bc.N, bc.trans, bc.alpha),
                     tolerance(dt), bc.name + " " + family_name(family) + " " + dtype_name(dt));
}

class BmmTest : public test::VkTest,
                public ::testing::WithParamInterface<std::tuple<BmmCase, KernelFamily, DType>> {};

TEST_P(BmmTest, MatchesReference) {
  auto [bc, family, dt] = GetParam();
  run_bmm(bc, family, dt);
}

const BmmCase kBmmCases[] = {
    {"sd_scores", 2, 256, 64, 256, true, 0.125f},  // q @ k^T / sqrt(64): heads x tokens x d
    {"sd_attn_v", 2, 256, 256, 64, false, 1.0f},   // probs @ v
    {"text_scores", 2, 64, 40, 77, true, 0.158f},  // cross-attention to 77 text tokens
    {"text_attn_v", 2, 64, 77, 40, false, 1.0f},   // K = 77: scalar loads
    {"ragged_v", 2, 50, 24, 40, false, 1.5f},     // vector loads, partial groups
    {"awkward_t", 3, 13, 127, 1, true, 2.0f},
    {"awkward_n", 3, 127, 13, 13, false, -0.5f},
    {"one", 1, 1, 1, 13, false, 1.0f},
};

std::string bmm_name(const ::testing::TestParamInfo<BmmTest::ParamType>& info) {
  auto [bc, family, dt] = info.param;
  return bc.name + "_" + family_name(family) + "_" + dtype_name(dt);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BmmTest,
                         ::testing::Combine(::testing::ValuesIn(kBmmCases),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu),
                                            ::testing::Values(DType::F32, DType::F16)),
                         bmm_name);

using Matmul = test::VkTest;

// Views 16 bytes into a buffer: aligned enough for Vulkan but not for the CPU kernel's 32-byte
// loads, so K % 8 == 0 must still work through the scalar fallback.
TEST_F(Matmul, MisalignedViewsUseScalarLoads) {
  auto& c = test::ctx();
  for (KernelFamily family : {KernelFamily::Cpu, KernelFamily::Gpu}) {
    FamilyScope scope(family);
    int64_t M = 20, K = 64, N = 24;
    auto x = test::random_vector(size_t(M * K), 7), w = test::random_vector(size_t(N * K), 8);
    std::vector<float> xpad(4, 0.0f), wpad(4, 0.0f);
    xpad.insert(xpad.end(), x.begin(), x.end());
    wpad.insert(wpad.end(), w.begin(), w.end());
    Tensor xb = Tensor::from_floats(c, {4 + M * K}, DType::F32, xpad);
    Tensor wb = Tensor::from_floats(c, {4 + N * K}, DType::F32, wpad);
    Tensor y = Tensor::empty(c, {M, N}, DType::F32);
    Sequence s(c);
    linear(s, xb.view(4, {M, K}, c), wb.view(4, {N, K}, c), nullptr, y);
    s.run();
    test::expect_close(y.download(c), ref::linear(x, w, {}, M, K, N), 1e-4,
                       std::string("misaligned ") + family_name(family));
    // The in_out layout through the same misaligned view: w^T as [K, N] = [64, 24]. (A
    // 16-byte offset is the least Vulkan allows and aligned for the [K, N] kernel's loads of
    // b; its scalar path is covered by N % 4 != 0, the n127 cases.)
    Tensor y2 = Tensor::empty(c, {M, N}, DType::F32);
    std::vector<float> wt = transposed(w, N, K);
    wpad.resize(4);
    wpad.insert(wpad.end(), wt.begin(), wt.end());
    Tensor wtb = Tensor::from_floats(c, {4 + N * K}, DType::F32, wpad);
    Sequence s2(c);
    linear(s2, xb.view(4, {M, K}, c), wtb.view(4, {K, N}, c), nullptr, y2, {}, WeightLayout::InOut);
    s2.run();
    test::expect_close(y2.download(c), ref::linear(x, w, {}, M, K, N), 1e-4,
                       std::string("misaligned in_out ") + family_name(family));
  }
}

// Grids past the group-count limit are split by the Sequence; the kernels must index with the
// base group. The limit is lowered so the split happens on a small problem, in x, y and z.
TEST_F(Matmul, SplitGrids) {
  auto& c = test::ctx();
  for (KernelFamily family : {KernelFamily::Cpu, KernelFamily::Gpu}) {
    c.set_dispatch_limit(2);
    run_linear({"split_linear", {300, 16}, 200}, family, DType::F32);
    run_bmm({"split_bmm", 5, 70, 24, 130, false, 1.0f}, family, DType::F32);
    c.set_dispatch_limit(UINT32_MAX);
  }
}

// 2^20 + 16 rows at 16 rows per group: 65537 groups in y, over lavapipe's 65535 without any
// lowered limit (CPU kernel; K = N = 1 keeps it cheap).
TEST_F(Matmul, ManyGroupsCpu) { run_linear({"many_groups", {(1 << 20) + 16, 1}, 1}, KernelFamily::Cpu, DType::F32); }

TEST_F(Matmul, WrongShapesThrow) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {4, 8}, DType::F32), w = Tensor::empty(c, {6, 8}, DType::F32);
  Tensor y = Tensor::empty(c, {4, 6}, DType::F32), b = Tensor::empty(c, {6}, DType::F32);
  Tensor bad_w = Tensor::empty(c, {6, 7}, DType::F32), bad_y = Tensor::empty(c, {4, 5}, DType::F32);
  Tensor bad_b = Tensor::empty(c, {5}, DType::F32), y16 = Tensor::empty(c, {4, 6}, DType::F16);
  Sequence s(c);
  EXPECT_THROW(linear(s, x, bad_w, nullptr, y), Error);
  EXPECT_THROW(linear(s, x, w, nullptr, bad_y), Error);
  EXPECT_THROW(linear(s, x, w, &bad_b, y), Error);
  EXPECT_THROW(linear(s, x, w, nullptr, y16), Error);
  Epilogue ep;
  ep.residual = &bad_y;
  EXPECT_THROW(linear(s, x, w, &b, y, ep), Error);
  Tensor sq = Tensor::empty(c, {8, 8}, DType::F32), w8 = Tensor::empty(c, {8, 8}, DType::F32);
  EXPECT_THROW(linear(s, sq, w8, nullptr, sq), Error);  // y overlaps x
  Tensor w_in_out = Tensor::empty(c, {8, 6}, DType::F32);  // [K, N]
  EXPECT_NO_THROW(linear(s, x, w_in_out, &b, y, {}, WeightLayout::InOut));
  EXPECT_THROW(linear(s, x, w, &b, y, {}, WeightLayout::InOut), Error);  // [6,8] read as [K, N]
  try {
    linear(s, x, bad_w, nullptr, y);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[6,7]"), std::string::npos) << e.what();
  }

  Tensor a = Tensor::empty(c, {2, 4, 8}, DType::F32), bt = Tensor::empty(c, {2, 8, 5}, DType::F32);
  Tensor cc = Tensor::empty(c, {2, 4, 5}, DType::F32);
  EXPECT_NO_THROW(batched_matmul(s, a, bt, false, cc));
  EXPECT_THROW(batched_matmul(s, a, bt, true, cc), Error);  // b would be [2,5,8]
  EXPECT_THROW(batched_matmul(s, a, Tensor::empty(c, {3, 8, 5}, DType::F32), false, cc), Error);
  EXPECT_THROW(batched_matmul(s, a, bt, false, Tensor::empty(c, {2, 4, 6}, DType::F32)), Error);
  EXPECT_THROW(batched_matmul(s, a.reshape({8, 8}), bt, false, cc), Error);
}

}  // namespace
