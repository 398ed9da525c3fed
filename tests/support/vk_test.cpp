#include "tests/support/vk_test.h"

#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>

#include "core/error.h"
#include "core/half.h"

namespace sdvk::test {
namespace {
std::vector<std::string> g_messages;
std::unique_ptr<Context> g_ctx;
std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<Context>> g_constrained;  // by limits

void record_message(const std::string& m) {
  g_messages.push_back(m);
  std::cerr << "VALIDATION: " << m << "\n";
}
}  // namespace

Context& ctx() {
  if (!g_ctx) {
    ContextOptions o;
    o.validation = true;
    o.on_validation_message = record_message;
    g_ctx = std::make_unique<Context>(o);
  }
  return *g_ctx;
}

Context& constrained_ctx(uint64_t max_allocation, uint64_t max_range) {
  std::unique_ptr<Context>& c = g_constrained[{max_allocation, max_range}];
  if (!c) {
    ContextOptions o;
    o.validation = true;
    o.sync_validation = true;
    o.force_staging = true;
    o.max_allocation_bytes = max_allocation;
    o.max_storage_buffer_range = max_range;
    o.on_validation_message = record_message;
    c = std::make_unique<Context>(o);
  }
  return *c;
}

const std::vector<std::string>& validation_messages() { return g_messages; }

void destroy_ctx() {
  g_constrained.clear();
  g_ctx.reset();
}

void VkTest::SetUp() {
  ctx();
  messages_before_ = g_messages.size();
}

void VkTest::TearDown() {
  EXPECT_EQ(g_messages.size(), messages_before_) << "Vulkan validation reported messages (see stderr)";
}

void SmallDispatchLimit::SetUp() {
  VkTest::SetUp();
  ctx().set_dispatch_limit(7);
}

void SmallDispatchLimit::TearDown() {
  ctx().set_dispatch_limit(UINT32_MAX);  // back to the device's own limit
  VkTest::TearDown();
}

std::vector<float> split_grid_values() {
  std::vector<float> a = random_vector(size_t(shape_numel(kSplitGridShape)), 21);
  a.back() = kNaN;
  return a;
}

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

std::vector<float> random_vector(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_to_half(std::vector<float> v) {
  for (auto& x : v) x = sdvk::round_to_half(x);
  return v;
}

std::vector<float> random_stored(int64_t n, uint32_t seed, DType dtype, float lo, float hi) {
  auto v = random_vector(size_t(n), seed, lo, hi);
  return dtype == DType::F16 ? round_to_half(v) : v;
}

double relative_error(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double max_ref = 1e-30, max_diff = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    if (!std::isfinite(got[i]) || !std::isfinite(ref[i])) return INFINITY;
    max_ref = std::max(max_ref, double(std::fabs(ref[i])));
    max_diff = std::max(max_diff, double(std::fabs(got[i] - ref[i])));
  }
  return max_diff / max_ref;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what << ": element counts differ";
  double err = relative_error(got, ref);
  if (getenv("SDVK_TEST_PRINT_ERR")) fprintf(stderr, "ERR %s %g\n", what.c_str(), err);
  if (err <= tol) return;
  size_t worst = 0;
  double worst_diff = -1;
  for (size_t i = 0; i < ref.size(); i++) {
    double d = std::isfinite(got[i]) ? std::fabs(got[i] - ref[i]) : INFINITY;
    if (d > worst_diff) worst_diff = d, worst = i;
  }
  ADD_FAILURE() << what << ": relative error " << err << " > " << tol << " (worst at " << worst << ": got "
                << got[worst] << ", want " << ref[worst] << ")";
}

}  // namespace sdvk::test

// main for every test binary: a missing device fails loudly, and any validation message fails
// the run even from a test that does not use the VkTest fixture.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  bool listing = ::testing::GTEST_FLAG(list_tests);
  if (!listing) {
    try {
      sdvk::test::ctx();
    } catch (const sdvk::Error& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 1;
    }
  }
  int rc = RUN_ALL_TESTS();
  // Destroyed before exit handlers run: Mesa's (registered at device creation, after this
  // static) stop the driver's threads, and objects destroyed after that crash lavapipe.
  sdvk::test::destroy_ctx();
  if (!listing && !sdvk::test::validation_messages().empty()) {
    std::cerr << sdvk::test::validation_messages().size() << " Vulkan validation message(s); failing\n";
    rc = 1;
  }
  return rc;
}
