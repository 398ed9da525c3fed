// nn::Params: checkpoint tensors uploaded by name, strictly.
#include "nn/params.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/tensor_convert.h"
#include "tests/support/vk_test.h"

using namespace sdvk;

namespace {

using ParamsTest = test::VkTest;
const std::string kPipeline = std::string(SDVK_TEST_DATA) + "/pipeline/tiny-sd";

TEST_F(ParamsTest, UploadsByNameInEitherPrecision) {
  WeightSet w = WeightSet::load(kPipeline);
  const Component& unet = w.component("unet");
  std::vector<float> want = to_f32(unet.tensor("down_blocks.0.resnets.1.conv1.weight"));
  for (DType dt : {DType::F32, DType::F16}) {
    nn::Params p(test::ctx(), unet, dt);
    Tensor t = p.at("down_blocks.0").at("resnets.1").get("conv1.weight", {32, 32, 3, 3});
    EXPECT_EQ(t.dtype(), dt);
    // The file holds float16 values, so both storage types hold them exactly.
    EXPECT_EQ(t.download(test::ctx()), want);
    EXPECT_EQ(p.uploaded_bytes(), t.bytes());
  }
}

// nn::Linear's weights go up transposed ([out,in] -> [in,out]), a 1x1 conv's [C,C,1,1] read
// as [C,C] too; the transposed upload is cached under its own key.
TEST_F(ParamsTest, TransposedUploads) {
  WeightSet w = WeightSet::load(kPipeline);
  const Component& unet = w.component("unet");
  struct Case {
    std::string name;
    int64_t out, in;
  };
  for (const Case& c : {Case{"down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2.weight", 64, 256},
                        Case{"down_blocks.1.attentions.0.proj_in.weight", 64, 64}}) {
    std::vector<float> want = to_f32(unet.tensor(c.name)), want_t(want.size());
    for (int64_t o = 0; o < c.out; o++)
      for (int64_t i = 0; i < c.in; i++) want_t[size_t(i * c.out + o)] = want[size_t(o * c.in + i)];
    for (DType dt : {DType::F32, DType::F16}) {
      nn::Params p(test::ctx(), unet, dt);
      Tensor t = p.get_transposed(c.name, {c.out, c.in});
      EXPECT_EQ(t.shape(), (Shape{c.in, c.out})) << c.name;
      EXPECT_EQ(t.download(test::ctx()), want_t) << c.name << " " << dtype_name(dt);
      Tensor again = p.get_transposed(c.name, {c.out, c.in});
      EXPECT_EQ(p.uploaded_bytes(), t.bytes()) << "uploaded twice";
      EXPECT_EQ(again.download(test::ctx()), want_t);
      EXPECT_EQ(p.get(c.name, {c.out, c.in}).download(test::ctx()), want) << "the plain upload is its own";
    }
  }
  nn::Params p(test::ctx(), unet, DType::F32);
  EXPECT_THROW(p.get_transposed("conv_in.weight", {32, 4, 3, 3}), Error);  // not 2-d
}

TEST_F(ParamsTest, MissingOrMisshapenTensorsAreErrors) {
  WeightSet w = WeightSet::load(kPipeline);
  nn::Params p(test::ctx(), w.component("unet"), DType::F32);
  EXPECT_FALSE(p.has("no.such.weight"));
  EXPECT_THROW(p.get("no.such.weight", {1}), Error);
  try {
    p.get("conv_in.weight", {32, 4, 3, 5});
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("conv_in.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("[32,4,3,3]"), std::string::npos) << m;
  }
}

// Resident bytes of this process's mappings of `path` (from /proc/self/smaps).
uint64_t resident_bytes_of(const std::string& path) {
  const std::string want = std::filesystem::canonical(path).string();
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_file = false;
  uint64_t rss_kib = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') != std::string::npos &&
        line.find(':') > line.find(' ')) {  // a mapping's header line: "start-end perms offset dev inode path"
      in_file = line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0;
      continue;
    }
    if (in_file && line.rfind("Rss:", 0) == 0) rss_kib += std::stoull(line.substr(4));
  }
  return rss_kib * 1024;
}

// Once on the device, a weight's file pages leave the resident set (issue 13: weights were held
// twice, in the mapping and in device memory, which on lavapipe is host memory too).
TEST_F(ParamsTest, UploadedWeightsLeaveTheResidentSet) {
  WeightSet w = WeightSet::load(kPipeline);
  const Component& unet = w.component("unet");
  uint64_t sum = 0;
  for (auto& [name, t] : unet.tensors) {
    std::vector<float> touch = to_f32(t);  // page every tensor in
    sum += touch.size();
  }
  ASSERT_GT(sum, 0u);
  const uint64_t before = resident_bytes_of(unet.source);
  ASSERT_GT(before, unet.bytes() / 2) << "the file's pages should be resident after reading it";
  nn::Params p(test::ctx(), unet, DType::F32);
  for (auto& [name, t] : unet.tensors) p.get(name, Shape(t.shape.begin(), t.shape.end()));
  // Only pages shared by two tensors' boundaries may stay.
  const uint64_t after = resident_bytes_of(unet.source);
  EXPECT_LT(after, before / 4) << "resident " << after << " of " << before << " bytes after upload";
}

}  // namespace
