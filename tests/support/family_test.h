// Tests of the row-normalising ops (group_norm, layer_norm, softmax), which run as a CPU-shaped
// or a GPU-shaped kernel: fixtures that force a kernel family, their bounds and helpers.
#pragma once
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "tests/support/vk_test.h"

namespace sdvk {
inline void PrintTo(KernelFamily f, std::ostream* os) { *os << (f == KernelFamily::Cpu ? "Cpu" : "Gpu"); }
}  // namespace sdvk

namespace sdvk::test::family {

// Float32: 1e-4 of max |ref|, the project bound (the kernels reach ~4e-7 here).
// Float16 storage: inputs, gamma and beta are rounded to float16 before the reference sees
// them; statistics and arithmetic run in float32 (~1e-6 relative) and each output is rounded
// once to float16: error <= 2^-11 |y| <= 2^-11 max|ref| ~ 4.9e-4 (outputs below 2^-14 are
// subnormal, off by up to 2^-25 absolute: small against max|ref| in these cases). 1e-3 leaves
// room for the rest.
constexpr double kTolF32 = 1e-4, kTolF16 = 1e-3;

inline double tol(DType t) { return t == DType::F32 ? kTolF32 : kTolF16; }
inline std::vector<float> stored(std::vector<float> v, DType t) { return t == DType::F16 ? round_to_half(v) : v; }

inline std::string shape_name(const Shape& s) {
  std::string name;
  for (int64_t d : s) name += (name.empty() ? "" : "x") + std::to_string(d);
  return name;
}
inline std::string family_name(KernelFamily f) { return ::testing::PrintToString(f); }

// Restores the Auto kernel family after each test.
class FamilyFixture : public VkTest {
 protected:
  void TearDown() override {
    ctx().set_kernel_family(KernelFamily::Auto);
    VkTest::TearDown();
  }
};

// Parameter: a kernel family, forced by family().
class FamilyTest : public FamilyFixture, public ::testing::WithParamInterface<KernelFamily> {
 protected:
  KernelFamily family() {
    ctx().set_kernel_family(GetParam());
    return GetParam();
  }
};

// Parameter: a case and a kernel family; param() forces the family and gives the case.
template <class Case>
class CaseTest : public FamilyFixture, public ::testing::WithParamInterface<std::tuple<Case, KernelFamily>> {
 protected:
  Case param() {
    ctx().set_kernel_family(family());
    return std::get<0>(this->GetParam());
  }
  KernelFamily family() { return std::get<1>(this->GetParam()); }
};

inline const auto kFamilies = ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu);
inline std::string family_test_name(const ::testing::TestParamInfo<KernelFamily>& info) {
  return family_name(info.param);
}

// Records with `record`, runs, checks the kernel is of family `f`, returns y.
template <class Record>
std::vector<float> run(Record record, const Tensor& y, KernelFamily f) {
  auto& c = ctx();
  Sequence s(c);
  record(s);
  s.run();
  if (c.info().subgroup_arithmetic) {  // else the CPU shape falls back to the GPU one
    bool cpu = s.profile().back().kernel.find("_cpu_") != std::string::npos;
    EXPECT_EQ(cpu, f == KernelFamily::Cpu) << s.profile().back().kernel;
  }
  return y.download(c);
}

// EXPECT that f() throws an Error containing `contains` (the op and the shapes).
template <class F>
void expect_error(F f, const std::string& contains) {
  try {
    f();
    ADD_FAILURE() << "no error; wanted one containing '" << contains << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(contains), std::string::npos) << e.what();
  }
}

}  // namespace sdvk::test::family
