// Test support: one validated Vulkan context per test binary, random data, and the error
// measure every op test uses.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
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
// validation on, allocations and bindings of at most `limit` bytes (so arenas spread over
// several pieces). One per limit; its validation messages fail tests like ctx()'s.
Context& constrained_ctx(uint64_t limit);
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

// Uniform values in [lo, hi), reproducible from seed.
std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
// Each value rounded to the nearest float16 (what a float16 tensor holds).
std::vector<float> round_to_half(std::vector<float> v);

// max |got - ref| / max |ref| (with max |ref| floored at 1e-30); NaN anywhere gives +inf.
double relative_error(const std::vector<float>& got, const std::vector<float>& ref);

// EXPECT that relative_error(got, ref) <= tol, printing the worst element on failure.
// SDVK_TEST_PRINT_ERR=1 prints every comparison's error (to justify a bound).
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double tol,
                  const std::string& what);

}  // namespace sdvk::test
