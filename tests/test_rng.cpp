// The PyTorch-compatible generator against torch.randn / torch.rand goldens: bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "scheduler/torch_rng.h"
#include "tests/support/golden_f32.h"

using namespace sdvk;

namespace {

const std::string kDir = std::string(SDVK_TEST_DATA) + "/rng";

// Index of the first element whose bits differ, or -1.
long first_bit_difference(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) return 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &ref[i], 4) != 0) return long(i);
  return -1;
}

TEST(TorchRng, MersenneTwisterMatchesTheStandardEngine) {
  // PyTorch's engine is the reference MT19937 seeded with the low 32 bits of the seed.
  for (uint64_t seed : {uint64_t(0), uint64_t(42), (uint64_t(1) << 40) + 3}) {
    Mt19937 ours(seed);
    std::mt19937 standard(uint32_t(seed & 0xffffffffu));
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(ours.next(), standard()) << "seed " << seed << " draw " << i;
  }
}

TEST(TorchRng, RandnAndThenRandMatchTorchBitForBit) {
  std::ifstream f(kDir + "/torch_cpu_randn.json");
  ASSERT_TRUE(f) << "missing " << kDir;
  auto cases = nlohmann::json::parse(f);
  test::GoldenF32 golden(kDir + "/torch_cpu_randn.safetensors");
  ASSERT_EQ(cases.size(), 7u);
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    size_t count = 1;
    for (size_t d : c.at("shape")) count *= d;
    TorchGenerator generator(c.at("seed").get<uint64_t>());
    auto normal = generator.randn(count);
    EXPECT_EQ(first_bit_difference(normal, golden.at(name)), -1) << name << " (" << count << " values)";
    auto uniform = generator.rand(9);
    EXPECT_EQ(first_bit_difference(uniform, golden.at(name + "_then_uniform")), -1) << name << " then rand(9)";
  }
}

TEST(TorchRng, SmallDrawsKeepTheSecondNormalForTheNextCall) {
  // Three values one at a time equal randn(3): the scalar path caches the second Box-Muller value.
  TorchGenerator together(0), one_by_one(0);
  auto three = together.randn(3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(one_by_one.randn(1)[0], three[i]) << i;
}

TEST(TorchRng, BatchSliceIsThatImageOfTheBatchedDraw) {
  const size_t per_image = 4 * 12 * 20;
  TorchGenerator generator(7);
  auto batch = generator.randn(2 * per_image);  // = golden case_4, [2, 4, 12, 20]
  for (size_t k = 0; k < 2; ++k) {
    auto slice = batch_slice(7, 2, per_image, k);
    EXPECT_EQ(first_bit_difference(slice, std::vector<float>(batch.begin() + ptrdiff_t(k * per_image),
                                                             batch.begin() + ptrdiff_t((k + 1) * per_image))),
              -1);
  }
  // The batch size matters: image 1 is not a single-image draw, and with 3 images of 6 values
  // (18 >= 16: block Box-Muller) image 0 is not randn(6) (fewer than 16: the scalar path).
  EXPECT_NE(batch_slice(7, 2, per_image, 1), TorchGenerator(7).randn(per_image));
  EXPECT_NE(batch_slice(7, 3, 6, 0), TorchGenerator(7).randn(6));
}

TEST(TorchRng, BatchSliceRefusesBadIndexAndSizes) {
  EXPECT_THROW(batch_slice(1, 2, 16, 2), Error);
  EXPECT_THROW(batch_slice(1, 0, 16, 0), Error);
  EXPECT_THROW(batch_slice(1, 2, 0, 0), Error);
  EXPECT_THROW(batch_slice(1, size_t(1) << 40, size_t(1) << 40, 0), Error);
}

}  // namespace
