// The transfer paths of GPUs whose memory the host cannot map, run on lavapipe: a context with
// forced staging and the validation layer's synchronization checks, batched uploads, host
// inputs/outputs inside one submission, and lowered allocation / binding limits.
#include "core/error.h"
#include "ops/unary.h"
#include "tests/support/vk_test.h"
#include "vk/memory.h"
#include "vk/transfer.h"

using namespace sdvk;

namespace {

// Each test runs on a context with device memory unmappable and sync validation on
// (test::constrained_ctx); its validation messages fail the test.
using Staging = test::VkTest;

TEST_F(Staging, DeviceMemoryIsNotMappedAndTensorsRoundTrip) {
  Context& c = test::constrained_ctx(0, 0);
  EXPECT_FALSE(c.allocator().device_memory_mappable());
  auto v = test::random_vector(100000, 1);
  Tensor t = Tensor::from_floats(c, {100000}, DType::F32, v);
  EXPECT_EQ(t.storage()->alloc->mapped(), nullptr);
  EXPECT_EQ(t.download(c), v);
  Tensor h = Tensor::from_floats(c, {100000}, DType::F16, v);
  EXPECT_EQ(h.download(c), test::round_to_half(v));
}

// Larger than the staging ring: chunked both ways.
TEST_F(Staging, TransfersLargerThanTheRingAreChunked) {
  Context& c = test::constrained_ctx(0, 0);
  const size_t n = size_t(c.transfers().ring_bytes() / 4 + 12345);
  auto v = test::random_vector(n, 2);
  Tensor t = Tensor::from_floats(c, {int64_t(n)}, DType::F32, v);
  EXPECT_EQ(t.download(c), v);
}

// Uploads wait in the batch and travel with the next submission: many tensors, one submit.
TEST_F(Staging, UploadsAreBatchedIntoTheNextSubmission) {
  Context& c = test::constrained_ctx(0, 0);
  std::vector<Tensor> weights;
  std::vector<std::vector<float>> values;
  const uint64_t before = c.submissions();
  for (uint32_t i = 0; i < 50; i++) {
    values.push_back(test::random_vector(1000, 10 + i));
    weights.push_back(Tensor::from_floats(c, {1000}, DType::F32, values.back()));
  }
  EXPECT_EQ(c.submissions(), before);  // nothing submitted yet
  Tensor y = Tensor::empty(c, {1000}, DType::F32);
  Sequence s(c);
  ops::unary(s, ops::Activation::SiLU, weights[7], y);
  s.run();  // the 50 copies and the dispatch: one submission
  EXPECT_EQ(c.submissions(), before + 1);
  test::expect_close(y.download(c), ops::ref::unary(ops::Activation::SiLU, values[7]), 1e-6, "after batch");
  for (size_t i = 0; i < weights.size(); i += 7) EXPECT_EQ(weights[i].download(c), values[i]);
}

// The step loop's shape: input written, sequence run, output read: one submission per run.
TEST_F(Staging, HostInputsAndOutputsTravelInOneSubmission) {
  Context& c = test::constrained_ctx(0, 0);
  Tensor x = Tensor::empty(c, {5000}, DType::F32, "x");
  Sequence s(c);
  Tensor mid = s.temp({5000}, DType::F32, "mid"), out = s.temp({5000}, DType::F32, "out");
  ops::unary(s, ops::Activation::SiLU, x, mid);
  ops::unary(s, ops::Activation::GeluErf, mid, out);
  s.input(x);
  s.output(out);
  for (uint32_t step = 0; step < 3; step++) {
    auto v = test::random_vector(5000, 20 + step);
    const uint64_t before = c.submissions();
    s.write_input(x, v);
    s.run();
    auto got = s.read_output(out);
    EXPECT_EQ(c.submissions(), before + 1) << "step " << step;
    test::expect_close(got, ops::ref::unary(ops::Activation::GeluErf, ops::ref::unary(ops::Activation::SiLU, v)),
                       1e-5, "step output");
  }
  EXPECT_THROW(s.write_input(out, {}), Error);  // not a declared input
}

// The same API on mappable memory is plain copies.
TEST_F(Staging, HostInputsAndOutputsOnMappedMemory) {
  Context& c = test::ctx();
  Tensor x = Tensor::empty(c, {300}, DType::F32, "x");
  Sequence s(c);
  Tensor out = s.temp({300}, DType::F32, "out");
  ops::unary(s, ops::Activation::SiLU, x, out);
  s.input(x);
  s.output(out);
  auto v = test::random_vector(300, 5);
  const uint64_t before = c.submissions();
  s.write_input(x, v);
  s.run();
  test::expect_close(s.read_output(out), ops::ref::unary(ops::Activation::SiLU, v), 1e-6, "mapped");
  EXPECT_EQ(c.submissions(), before + 1);
}

// With a 1 MiB allocation limit a chain of 600 KB temporaries needs two arena pieces, and
// blocks stay within the limit; results are unchanged.
TEST_F(Staging, LoweredAllocationLimitSpreadsTheArena) {
  Context& c = test::constrained_ctx(1 << 20, 0);
  EXPECT_EQ(c.allocator().max_allocation_bytes(), 1u << 20);
  const int64_t n = 150000;  // 600 KB in float32
  auto v = test::random_vector(size_t(n), 6);
  Tensor x = Tensor::from_floats(c, {n}, DType::F32, v), y = Tensor::empty(c, {n}, DType::F32);
  Sequence s(c);
  Tensor a = s.temp({n}, DType::F32, "a"), b = s.temp({n}, DType::F32, "b");
  ops::unary(s, ops::Activation::SiLU, x, a);
  ops::unary(s, ops::Activation::SiLU, a, b);
  ops::unary(s, ops::Activation::SiLU, b, y);
  s.run();
  EXPECT_EQ(s.arena_pieces(), 2u);
  auto want = ops::ref::unary(ops::Activation::SiLU, ops::ref::unary(ops::Activation::SiLU, ops::ref::unary(ops::Activation::SiLU, v)));
  test::expect_close(y.download(c), want, 1e-5, "over two pieces");
  try {
    Tensor::empty(c, {1 << 20}, DType::F32, "too_big");  // 4 MiB in one piece
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too_big"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("allocates at once"), std::string::npos) << e.what();
  }
}

// A binding beyond maxStorageBufferRange is refused at recording, naming the tensor.
TEST_F(Staging, BindingsBeyondTheStorageRangeAreAClearError) {
  Context& c = test::constrained_ctx(0, 64 << 10);
  Tensor x = Tensor::empty(c, {8192}, DType::F32, "x");  // 32 KiB: fits
  Sequence s(c);
  Tensor big = s.temp({32768}, DType::F32, "big_temp");  // 128 KiB: does not
  try {
    ops::unary(s, ops::Activation::SiLU, x.reshape({8192}), big.view(0, {8192}, c));  // views fit
    ops::unary(s, ops::Activation::SiLU, big, big);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("big_temp"), std::string::npos) << m;
    EXPECT_NE(m.find("maxStorageBufferRange"), std::string::npos) << m;
  }
}

}  // namespace
