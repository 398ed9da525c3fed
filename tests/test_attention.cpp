#include "ops/attention.h"

#include <algorithm>
#include <string>
#include <tuple>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

struct AttnCase {
  const char* name;
  int64_t batch, tq, tk;
  int heads;
  int64_t head_dim;
  bool causal = false;
  float scale = 0.0f;
  float range = 3.0f;  // q, k uniform in [-range, range): scores of a few units, a peaked softmax
};

std::vector<float> run_attention(const AttnCase& c, DType dtype, const std::vector<float>& q,
                                 const std::vector<float>& k, const std::vector<float>& v) {
  auto& ctx = test::ctx();
  const int64_t C = c.heads * c.head_dim;
  Tensor tq = Tensor::from_floats(ctx, {c.batch, c.tq, C}, dtype, q, "q");
  Tensor tk = Tensor::from_floats(ctx, {c.batch, c.tk, C}, dtype, k, "k");
  Tensor tv = Tensor::from_floats(ctx, {c.batch, c.tk, C}, dtype, v, "v");
  Tensor to = Tensor::empty(ctx, {c.batch, c.tq, C}, dtype, "o");
  Sequence s(ctx);
  attention(s, tq, tk, tv, to, c.heads, c.causal, c.scale);
  s.run();
  return to.download(ctx);
}

struct Inputs {
  std::vector<float> q, k, v;
};
Inputs make_inputs(const AttnCase& c, DType dtype, uint32_t seed) {
  const int64_t C = c.heads * c.head_dim;
  Inputs in{test::random_vector(size_t(c.batch * c.tq * C), seed, -c.range, c.range),
            test::random_vector(size_t(c.batch * c.tk * C), seed + 1, -c.range, c.range),
            test::random_vector(size_t(c.batch * c.tk * C), seed + 2)};
  if (dtype == DType::F16) {
    in.q = test::round_to_half(in.q);
    in.k = test::round_to_half(in.k);
    in.v = test::round_to_half(in.v);
  }
  return in;
}

// Every test runs once per kernel family and restores the automatic choice afterwards.
class FamilyTest : public test::VkTest {
 protected:
  void use(KernelFamily f) { test::ctx().set_kernel_family(f); }
  void TearDown() override {
    test::ctx().set_kernel_family(KernelFamily::Auto);
    test::VkTest::TearDown();
  }
};

const char* family_name(KernelFamily f) { return f == KernelFamily::Cpu ? "cpu" : "gpu"; }

class AttentionTest : public FamilyTest,
                      public ::testing::WithParamInterface<std::tuple<AttnCase, DType, KernelFamily>> {};

// float32: 1e-4 of max |ref|. float16 storage: the reference runs on the same rounded inputs and
// scores, softmax and accumulator stay float32, so the one extra error is rounding o to float16,
// at most 2^-11 ~ 4.9e-4 of |o| <= max |ref|; 1e-3 leaves room for the float32 arithmetic.
TEST_P(AttentionTest, MatchesReference) {
  const auto& [c, dtype, family] = GetParam();
  use(family);
  Inputs in = make_inputs(c, dtype, uint32_t(c.tq * 7 + c.tk + c.head_dim));
  auto got = run_attention(c, dtype, in.q, in.k, in.v);
  auto want = ref::attention(in.q, in.k, in.v, c.batch, c.tq, c.tk, c.heads, c.head_dim, c.causal, c.scale);
  test::expect_close(got, want, dtype == DType::F32 ? 1e-4 : 1e-3, c.name);
}

const AttnCase kCases[] = {
    {"sd15_self", 2, 64, 64, 8, 40},              // SD 1.5 level 1 (D=40), 64 tokens
    {"sd2_cross", 2, 256, 77, 8, 64},             // SD 2 cross-attention to 77 text tokens
    {"clip_causal", 2, 77, 77, 4, 16, true},      // CLIP text tower
    {"d80", 2, 33, 33, 2, 80},                    // SD 1.5 level 2
    {"d160", 2, 20, 77, 2, 160},                  // SD 1.5 level 3, cross
    {"d13_t13", 2, 13, 13, 3, 13},                // odd head dim and length
    {"t127", 2, 127, 127, 2, 8, false, 0.0f, 6.0f},  // D=8, strongly peaked scores
    {"tk1", 3, 127, 1, 2, 24},                    // one key: o is v's row
    {"causal_odd", 2, 13, 13, 1, 40, true},
    {"explicit_scale", 2, 37, 50, 2, 32, false, 0.35f},
    {"large_scores", 2, 40, 40, 2, 64, false, 0.0f, 12.0f},  // scores in the hundreds: exp overflows
                                                              // without the running-max shift
};

std::string case_name(const ::testing::TestParamInfo<AttentionTest::ParamType>& info) {
  const auto& [c, dtype, family] = info.param;
  return std::string(c.name) + "_" + dtype_name(dtype) + "_" + family_name(family);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Values(DType::F32, DType::F16),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu)),
                         case_name);

// Every GPU tile configuration that fits this device's shared memory, at SD 1.5's smallest and
// largest head dims (40 and 160): on a GPU with 48 KiB the automatic choice for D=40 is
// (64, 64), which lavapipe's 32 KiB never picks; this runs each configuration this device can
// hold (on lavapipe 8 at D=40, 1 at D=160; each is a pipeline to compile, seconds of LLVM on
// a cold cache, so not every head dim: SD 2's 64 runs in the shape cases above). Awkward
// lengths leave partial query and key tiles.
class AttentionTileConfigs : public FamilyTest, public ::testing::WithParamInterface<int64_t> {
 protected:
  void TearDown() override {
    force_attention_gpu_tiles({});
    FamilyTest::TearDown();
  }
};

TEST_P(AttentionTileConfigs, EveryConfigurationThatFitsMatchesReference) {
  const int64_t D = GetParam();
  use(KernelFamily::Gpu);
  const AttnCase c{"tiles", 2, 37, 45, 2, D};
  Inputs in = make_inputs(c, DType::F32, uint32_t(D));
  auto want = ref::attention(in.q, in.k, in.v, c.batch, c.tq, c.tk, c.heads, c.head_dim, false, 0.0f);
  auto configs = attention_gpu_tile_configs(test::ctx(), uint32_t(D));
  ASSERT_FALSE(configs.empty());
  const ops::AttentionTiles automatic = attention_gpu_tiles(test::ctx(), uint32_t(D));
  EXPECT_NE(std::find(configs.begin(), configs.end(), automatic), configs.end()) << "automatic choice not listed";
  for (const ops::AttentionTiles& t : configs) {
    force_attention_gpu_tiles(t);
    auto got = run_attention(c, DType::F32, in.q, in.k, in.v);
    test::expect_close(got, want, 1e-4, "D=" + std::to_string(D) + " tiles (" + std::to_string(t.bq) + ", " +
                                            std::to_string(t.bk) + ")");
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, AttentionTileConfigs, ::testing::Values(40, 160));

TEST_F(FamilyTest, TilesThatDoNotFitAreAClearError) {
  use(KernelFamily::Gpu);
  force_attention_gpu_tiles({128, 128});  // 4 * (256 * 161 + ...) bytes: more than any device has
  const AttnCase c{"too_big", 1, 4, 4, 1, 160};
  Inputs in = make_inputs(c, DType::F32, 1);
  try {
    run_attention(c, DType::F32, in.q, in.k, in.v);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit shared memory"), std::string::npos) << e.what();
  }
  force_attention_gpu_tiles({});
}

// 4096-token self-attention (SD 1.5 level 1 at 512x512 has 4096 tokens, D=40): the score
// matrix of one head would be 4096 x 4096 x 4 bytes = 64 MiB. Check a sample of rows against the
// reference and that the allocator never held more than the four tensors. The GPU family runs
// 512 queries against the 4096 keys at D=8: its shared-memory tiles are slow on lavapipe.
class LongAttention : public FamilyTest, public ::testing::WithParamInterface<KernelFamily> {};

TEST_P(LongAttention, SampledRowsAndNoScoreMatrix) {
  use(GetParam());
  auto& ctx = test::ctx();
  const AttnCase c = GetParam() == KernelFamily::Cpu ? AttnCase{"t4096", 1, 4096, 4096, 2, 40}
                                                     : AttnCase{"t512x4096", 1, 512, 4096, 1, 8};
  const int64_t C = c.heads * c.head_dim;
  Inputs in = make_inputs(c, DType::F32, 4096);
  ctx.allocator().reset_peak();
  const uint64_t before = ctx.allocator().bytes_in_use();
  auto got = run_attention(c, DType::F32, in.q, in.k, in.v);
  const uint64_t tensors = 2 * uint64_t(c.tq + c.tk) * C * 4;  // q, k, v, o in float32
  EXPECT_LE(ctx.allocator().peak_bytes_in_use() - before, tensors + (1u << 20));
  EXPECT_LT(ctx.allocator().peak_bytes_in_use(), uint64_t(4096) * 4096 * 4 / 8);

  std::vector<int64_t> rows = {0, 1, 7, 8, 63, 64, 255, 510, 511};
  if (c.tq == 4096) rows.insert(rows.end(), {512, 1000, 2047, 2048, 3333, 4094, 4095});
  auto want = ref::attention(in.q, in.k, in.v, c.batch, c.tq, c.tk, c.heads, c.head_dim, false, 0.0f, rows);
  std::vector<float> sample;
  for (int64_t r : rows) sample.insert(sample.end(), got.begin() + r * C, got.begin() + (r + 1) * C);
  test::expect_close(sample, want, 1e-4, std::string(c.name) + " sampled rows");
}

INSTANTIATE_TEST_SUITE_P(Families, LongAttention, ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu),
                         [](const auto& info) { return std::string(family_name(info.param)); });

// 24576 keys at D=40 overrun lavapipe's 65535 loop iterations per invocation with the default
// key blocks (see ops/attention.cpp): the CPU kernel must switch to longer blocks, not stop short.
TEST_F(FamilyTest, CpuLongKeySequence) {
  use(KernelFamily::Cpu);
  const AttnCase c{"tk24576", 1, 8, 24576, 1, 40};
  Inputs in = make_inputs(c, DType::F32, 24576);
  auto got = run_attention(c, DType::F32, in.q, in.k, in.v);
  auto want = ref::attention(in.q, in.k, in.v, c.batch, c.tq, c.tk, c.heads, c.head_dim, false, 0.0f);
  test::expect_close(got, want, 1e-4, c.name);
}

using AttentionErrors = test::VkTest;

// On llvmpipe the GPU family cannot loop over 8192 keys at D=160 within the loop limit (see
// ops/attention.cpp): it must refuse instead of returning a silently truncated result.
TEST_F(FamilyTest, LlvmpipeLoopLimitIsRefused) {
  auto& ctx = test::ctx();
  if (ctx.info().name.find("llvmpipe") == std::string::npos) GTEST_SKIP() << "not llvmpipe";
  use(KernelFamily::Gpu);
  Tensor q = Tensor::empty(ctx, {1, 8, 160}, DType::F32), o = Tensor::empty(ctx, {1, 8, 160}, DType::F32);
  Tensor kv = Tensor::empty(ctx, {1, 8192, 160}, DType::F32);
  Sequence s(ctx);
  EXPECT_THROW(attention(s, q, kv, kv, o, 1), Error);
  EXPECT_EQ(s.dispatch_count(), 0u);
}

TEST_F(AttentionErrors, WrongShapesThrow) {
  auto& ctx = test::ctx();
  auto t = [&](Shape s, DType d = DType::F32) { return Tensor::empty(ctx, s, d); };
  Tensor q = t({2, 16, 64}), kv = t({2, 8, 64}), o = t({2, 16, 64});
  Sequence s(ctx);
  EXPECT_THROW(attention(s, q, kv, kv, o, 3), Error);                      // 64 channels, 3 heads
  EXPECT_THROW(attention(s, q, t({2, 8, 32}), t({2, 8, 32}), o, 2), Error);  // k channels differ
  EXPECT_THROW(attention(s, q, kv, t({2, 9, 64}), o, 2), Error);            // v length differs
  EXPECT_THROW(attention(s, q, t({1, 8, 64}), t({1, 8, 64}), o, 2), Error);  // batch differs
  EXPECT_THROW(attention(s, q, kv, kv, t({2, 8, 64}), 2), Error);           // o not q's shape
  EXPECT_THROW(attention(s, q, kv, kv, o, 2, true), Error);                 // causal, Tq != Tk
  EXPECT_THROW(attention(s, q.reshape({32, 64}), kv, kv, o, 2), Error);     // not [B,T,C]
  EXPECT_THROW(attention(s, q, kv, kv, q, 2), Error);                       // o aliases q
  if (ctx.info().fp16_storage) {
    EXPECT_THROW(attention(s, q, kv, kv, t({2, 16, 64}, DType::F16), 2), Error);  // dtypes differ
  }
  try {
    attention(s, q, kv, t({2, 9, 64}), o, 2);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2,9,64]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.dispatch_count(), 0u);
}

}  // namespace
