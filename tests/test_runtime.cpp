// The runtime itself: float16 conversion, memory, barriers, replay, dispatch splitting,
// profiling, device choice and the pipeline cache.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/half.h"
#include "ops/unary.h"
#include "tests/support/vk_test.h"
#include "vk/memory.h"

using namespace sdvk;

namespace {

using Runtime = test::VkTest;

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
      continue;
    }
    ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Half, RoundsToNearestEvenAndOverflowsToInf) {
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 1.0f / 2048)), 1.0f);                   // tie -> even
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);     // tie -> even (up)
  EXPECT_EQ(half_to_float(float_to_half(65504.0f)), 65504.0f);
  EXPECT_EQ(half_to_float(float_to_half(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(65520.0f))));
  EXPECT_EQ(half_to_float(float_to_half(5.96046448e-8f)), 5.96046448e-8f);  // smallest subnormal
  EXPECT_EQ(half_to_float(float_to_half(2.98023224e-8f)), 0.0f);            // half of it: tie -> 0
  EXPECT_EQ(half_to_float(float_to_half(-1e-10f)), -0.0f);
}

TEST_F(Runtime, TensorUploadDownloadBothDtypes) {
  auto& c = test::ctx();
  auto v = test::random_vector(1000, 1);
  EXPECT_EQ(Tensor::from_floats(c, {10, 100}, DType::F32, v).download(c), v);
  EXPECT_EQ(Tensor::from_floats(c, {10, 100}, DType::F16, v).download(c), test::round_to_half(v));
}

TEST_F(Runtime, AllocatorReusesFreedBytesAndTracksPeak) {
  auto& c = test::ctx();
  auto& a = c.allocator();
  uint64_t before = a.bytes_in_use();
  a.reset_peak();
  {
    Tensor t1 = Tensor::empty(c, {1 << 20}, DType::F32);
    Tensor t2 = Tensor::empty(c, {1 << 20}, DType::F32);
    EXPECT_EQ(a.bytes_in_use(), before + (8u << 20));
    EXPECT_NE(t1.offset(), t2.offset());
  }
  EXPECT_EQ(a.bytes_in_use(), before);
  EXPECT_EQ(a.peak_bytes_in_use(), before + (8u << 20));
  uint64_t reserved = a.bytes_reserved();
  for (int i = 0; i < 20; i++) Tensor::empty(c, {1 << 20}, DType::F32);  // freed each time
  EXPECT_EQ(a.bytes_reserved(), reserved);
}

TEST_F(Runtime, ImpossibleAllocationIsAClearError) {
  auto& c = test::ctx();
  try {
    Tensor::empty(c, {int64_t(1) << 40}, DType::F32, "huge");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge"), std::string::npos) << e.what();
  }
  try {
    c.allocator().allocate(uint64_t(1) << 50, MemoryKind::Device, "petabyte");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("out of device memory"), std::string::npos) << m;
    EXPECT_NE(m.find("heap size"), std::string::npos) << m;
  }
}

TEST_F(Runtime, ViewsShareBytesAndCheckBounds) {
  auto& c = test::ctx();
  auto v = test::random_vector(256, 2);
  Tensor t = Tensor::from_floats(c, {256}, DType::F32, v);
  Tensor second = t.view(128, {2, 64}, c);
  std::vector<float> want(v.begin() + 128, v.end());
  EXPECT_EQ(second.download(c), want);
  EXPECT_THROW(t.view(200, {100}, c), Error);
  EXPECT_THROW(t.view(1, {4}, c), Error);  // 4-byte offset: below the storage alignment
  EXPECT_THROW(t.reshape({3, 5}), Error);
}

// A chain x -> silu -> y -> silu -> z needs a barrier between the two; two dispatches on
// unrelated tensors need none.
TEST_F(Runtime, BarriersFollowTheData) {
  auto& c = test::ctx();
  auto v = test::random_vector(4096, 3, -3, 3);
  Tensor x = Tensor::from_floats(c, {4096}, DType::F32, v);
  Tensor y = Tensor::empty(c, {4096}, DType::F32), z = Tensor::empty(c, {4096}, DType::F32);
  Tensor x2 = Tensor::from_floats(c, {4096}, DType::F32, v), y2 = Tensor::empty(c, {4096}, DType::F32);
  Sequence s(c);
  ops::unary(s, ops::Activation::SiLU, x, y);
  ops::unary(s, ops::Activation::SiLU, x2, y2);  // independent: no barrier
  ops::unary(s, ops::Activation::SiLU, y, z);    // reads y: barrier 1
  ops::unary(s, ops::Activation::SiLU, x, y2);   // writes y2 written before barrier 1: none
  ops::unary(s, ops::Activation::SiLU, z, x);    // reads z (written since): barrier 2
  s.run();
  EXPECT_EQ(s.barrier_count(), 2u);
  Sequence independent(c);
  ops::unary(independent, ops::Activation::SiLU, x2, y2);
  ops::unary(independent, ops::Activation::SiLU, x2, y);
  independent.run();
  EXPECT_EQ(independent.barrier_count(), 0u);
  auto want_z = ops::ref::unary(ops::Activation::SiLU, ops::ref::unary(ops::Activation::SiLU, v));
  test::expect_close(z.download(c), want_z, 1e-6, "z");
  test::expect_close(x.download(c), ops::ref::unary(ops::Activation::SiLU, want_z), 1e-6, "x");
}

// A chain through five temporaries needs only two slots: each dies once the next is made.
TEST_F(Runtime, TemporariesShareBytesByLiveness) {
  auto& c = test::ctx();
  const int64_t n = 1000;
  auto v = test::random_vector(n, 8, -2, 2);
  Tensor x = Tensor::from_floats(c, {n}, DType::F32, v), y = Tensor::empty(c, {n}, DType::F32);
  Sequence s(c);
  Tensor prev = x;
  std::vector<float> want = v;
  for (int i = 0; i < 5; i++) {
    Tensor t = s.temp({n}, DType::F32, "t" + std::to_string(i));
    EXPECT_THROW(t.buffer(), Error);  // no memory before the sequence runs
    ops::unary(s, ops::Activation::QuickGelu, prev, t);
    want = ops::ref::unary(ops::Activation::QuickGelu, want);
    prev = t;
  }
  Tensor kept = s.temp({n}, DType::F32, "kept");
  ops::unary(s, ops::Activation::SiLU, prev, kept);
  s.keep(kept);
  ops::unary(s, ops::Activation::SiLU, kept, y);
  s.run();
  uint64_t slot = 4096;  // 4000 bytes rounded to 256
  EXPECT_EQ(s.temp_bytes_unshared(), 6 * slot);
  EXPECT_EQ(s.arena_bytes(), 2 * slot);
  auto want_kept = ops::ref::unary(ops::Activation::SiLU, want);
  test::expect_close(kept.download(c), want_kept, 1e-5, "kept temporary");
  test::expect_close(y.download(c), ops::ref::unary(ops::Activation::SiLU, want_kept), 1e-5, "y");
  s.run();  // replay over the same placement
  test::expect_close(kept.download(c), want_kept, 1e-5, "kept temporary after replay");

  Sequence other(c);
  Tensor foreign = other.temp({n}, DType::F32, "foreign");
  Sequence third(c);
  EXPECT_THROW(ops::unary(third, ops::Activation::SiLU, x, foreign), Error);
}

// Record once, replay with new input values: the recording reads the buffers at run time.
TEST_F(Runtime, ReplayUsesCurrentInputs) {
  auto& c = test::ctx();
  Tensor x = Tensor::empty(c, {100}, DType::F32), y = Tensor::empty(c, {100}, DType::F32);
  Sequence s(c);
  ops::unary(s, ops::Activation::QuickGelu, x, y);
  for (uint32_t seed = 0; seed < 3; seed++) {
    auto v = test::random_vector(100, seed);
    x.upload(c, v);
    s.run();
    test::expect_close(y.download(c), ops::ref::unary(ops::Activation::QuickGelu, v), 1e-6, "replay");
  }
  EXPECT_THROW(ops::unary(s, ops::Activation::SiLU, x, y), Error);  // recording has ended
}

TEST_F(Runtime, LoweredDispatchLimitSplitsGrids) {
  auto& c = test::ctx();
  c.set_dispatch_limit(2);
  auto v = test::random_vector(256 * 7 - 3, 4);  // 7 groups -> pieces of 2, 2, 2, 1
  Tensor x = Tensor::from_floats(c, {int64_t(v.size())}, DType::F32, v);
  Tensor y = Tensor::empty(c, x.shape(), DType::F32);
  Sequence s(c);
  ops::unary(s, ops::Activation::SiLU, x, y);
  s.run();
  c.set_dispatch_limit(UINT32_MAX);
  test::expect_close(y.download(c), ops::ref::unary(ops::Activation::SiLU, v), 1e-6, "split");
}

TEST_F(Runtime, ProfileTimesEveryDispatch) {
  auto& c = test::ctx();
  if (!c.info().timestamps) GTEST_SKIP() << "device has no timestamps";
  Tensor x = Tensor::from_floats(c, {1 << 16}, DType::F32, test::random_vector(1 << 16, 5));
  Tensor y = Tensor::empty(c, x.shape(), DType::F32);
  Sequence s(c, /*profile=*/true);
  ops::unary(s, ops::Activation::SiLU, x, y);
  ops::unary(s, ops::Activation::GeluErf, y, x);
  s.run();
  s.run();
  auto p = s.profile();
  ASSERT_EQ(p.size(), 2u);
  for (auto& e : p) {
    EXPECT_EQ(e.runs, 2u);
    EXPECT_GE(e.ms, 0.0);
    EXPECT_EQ(e.label, "unary");
  }
}

TEST_F(Runtime, DeviceSelection) {
  Instance inst(false);
  ASSERT_FALSE(inst.devices().empty());
  const DeviceInfo& d = inst.choose("");
  EXPECT_EQ(inst.choose(std::to_string(d.index)).name, d.name);
  EXPECT_EQ(inst.choose(d.name.substr(0, 4)).name, d.name);
  try {
    inst.choose("no-such-device-xyz");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-device-xyz"), std::string::npos);
  }
  EXPECT_THROW(inst.choose("99"), Error);
}

// A corrupt cache file is ignored; a good one is written and reused.
TEST_F(Runtime, PipelineCacheSurvivesCorruptFiles) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("sdvk-cache-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  setenv("SDVK_CACHE_DIR", dir.c_str(), 1);
  const char* no_cache = std::getenv("SDVK_NO_PIPELINE_CACHE");  // this test needs the cache on
  std::string saved_no_cache = no_cache ? no_cache : "";
  unsetenv("SDVK_NO_PIPELINE_CACHE");
  std::string path;
  {
    Context c;
    path = c.kernels().disk_cache_path();
    ASSERT_FALSE(path.empty());
    std::ofstream(path, std::ios::binary) << "garbage that is not a pipeline cache, but long enough to have a header";
  }
  auto run_once = [] {
    Context c;
    Tensor x = Tensor::from_floats(c, {13}, DType::F32, test::random_vector(13, 6));
    Tensor y = Tensor::empty(c, {13}, DType::F32);
    Sequence s(c);
    ops::unary(s, ops::Activation::SiLU, x, y);
    s.run();
    return y.download(c);
  };
  auto first = run_once();  // reads the garbage, compiles, saves a real cache
  {  // replaced by a real cache: a Vulkan pipeline-cache header (lavapipe stores only that)
    std::ifstream f(path, std::ios::binary);
    uint32_t header[2] = {0, 0};
    f.read(reinterpret_cast<char*>(header), sizeof header);
    EXPECT_GE(header[0], 32u);
    EXPECT_EQ(header[1], uint32_t(VK_PIPELINE_CACHE_HEADER_VERSION_ONE));
  }
  EXPECT_EQ(run_once(), first);  // loads the real cache
  unsetenv("SDVK_CACHE_DIR");
  if (no_cache) setenv("SDVK_NO_PIPELINE_CACHE", saved_no_cache.c_str(), 1);
  fs::remove_all(dir);
}

}  // namespace

// SDVK_CONV picks the convolution algorithm, in any letter case.
TEST(Environment, ConvAlgorithmOverride) {
  const std::pair<const char*, ConvAlgorithm> cases[] = {
      {"direct", ConvAlgorithm::Direct}, {"Winograd", ConvAlgorithm::Winograd}, {"GEMM", ConvAlgorithm::Gemm}};
  for (const auto& [value, want] : cases) {
    setenv("SDVK_CONV", value, 1);
    Context ctx;
    EXPECT_EQ(ctx.conv_algorithm(), want) << value;
  }
  unsetenv("SDVK_CONV");
}

// A bad override in the environment is a one-line error before any Vulkan object exists (so
// nothing leaks for the validation layer to report).
TEST(Environment, BadOverridesAreErrors) {
  for (const char* var : {"SDVK_CONV", "SDVK_KERNELS", "SDVK_MAX_DISPATCH_GROUPS", "SDVK_MAX_ALLOCATION_SIZE"}) {
    setenv(var, "bogus", 1);
    try {
      Context ctx;
      ADD_FAILURE() << var << "=bogus accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(var), std::string::npos) << e.what();
    }
    unsetenv(var);
  }
}
