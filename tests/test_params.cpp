// nn::Params: checkpoint tensors uploaded by name, strictly.
#include "nn/params.h"

#include "model/tensor_convert.h"
#include "tests/support/vk_test.h"
#include "vk/error.h"

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

}  // namespace
