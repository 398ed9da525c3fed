// Test support: one validated Vulkan context per test binary, random data, and the error
// measure every op test uses.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "vk/context.h"
#include "vk/sequence.h"
#include "vk/tensor.h"

namespace sdvk::test {

// The process-wide context: the device chosen as the CLI would (SDVK_DEVICE), with
// VK_LAYER_KHRONOS_validation on. Every validation message is recorded.
Context& ctx();
const std::vector<std::string>& validation_messages();
// A second context on the same device shaped like a discrete GPU without Resizable BAR and
// with small limits: device memory unmappable (every transfer staged), synchronization
// validation on, allocations of at most `max_allocation` bytes and bindings of at most
// `max_range` (0: the device's own limit). One per pair of limits; its validation messages
// fail tests like ctx()'s.
Context& constrained_ctx(uint64_t max_allocation, uint64_t max_range);
// Both limits `limit` (so arenas spread over several pieces).
inline Context& constrained_ctx(uint64_t limit) { return constrained_ctx(limit, limit); }
// Destroys the process-wide context (main does, before exit).
void destroy_ctx();

// Base fixture: fails the test when it produced any validation message.
class VkTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

 private:
  size_t messages_before_ = 0;
};

// Fixture: the process-wide context splits every dispatch into grids of at most 7 groups per
// dimension during the test, so any grid over 7 groups runs in several pieces.
class SmallDispatchLimit : public VkTest {
 protected:
  void SetUp() override;
  void TearDown() override;
};

// Non-finite values to plant in test data.
inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// What the SmallDispatchLimit tests of the memory-bound ops (binary, scale, cast, nonfinite)
// run: kSplitGridShape, 12480 elements, 13 groups of 1024 (4 per invocation) or 49 groups of
// 256, so several pieces; split_grid_values() fills it (seed 21) and ends with a NaN, in the
// last piece.
inline const Shape kSplitGridShape{3, 20, 16, 13};
std::vector<float> split_grid_values();

// EXPECT got and want equal as float bit patterns, except that any NaN matches any NaN.
void expect_same_values(const std::vector<float>& got, const std::vector<float>& want, const std::string& what);

// Uniform values in [lo, hi), reproducible from seed.
std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
// Each value rounded to the nearest float16 (what a float16 tensor holds).
std::vector<float> round_to_half(std::vector<float> v);
// random_vector(n, seed, lo, hi), rounded to float16 when `dtype` is F16: what a tensor of that
// storage type holds.
std::vector<float> random_stored(int64_t n, uint32_t seed, DType dtype, float lo = -1.0f, float hi = 1.0f);

// max |got - ref| / max |ref| (with max |ref| floored at 1e-30); NaN anywhere gives +inf.
double relative_error(const std::vector<float>& got, const std::vector<float>& ref);

// EXPECT that relative_error(got, ref) <= tol, printing the worst element on failure.
// SDVK_TEST_PRINT_ERR=1 prints every comparison's error (to justify a bound).
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double tol,
                  const std::string& what);

}  // namespace sdvk::test
