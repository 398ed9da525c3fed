// VAE (AutoencoderKL) decoder and encoder against diffusers v0.21.4 goldens:
//  - vae_tiny: random bfloat16 weights; latent -> decoded, image -> moments.
//  - vae_hot_tiny: weights scaled like a trained checkpoint (activations ~1100, sharp
//    attention); latent -> decoded. Its stats.json gives fp16_storage_rel_err, the error of
//    storing every layer's output in float16 with float32 arithmetic (~6e-4).
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/weights.h"
#include "tests/support/vk_test.h"
#include "vae/decoder.h"
#include "vae/encoder.h"

using namespace sdvk;

namespace {

using VaeTest = test::VkTest;
const std::string kTiny = std::string(SDVK_TEST_DATA) + "/vae_tiny";
const std::string kHot = std::string(SDVK_TEST_DATA) + "/vae_hot_tiny";

struct Golden {
  std::vector<float> values;
  Shape shape;
};
Golden golden(const std::string& dir, const std::string& name) {
  SafetensorsFile f(dir + "/io.safetensors");
  const TensorInfo* t = f.find(name);
  if (!t) throw std::runtime_error(dir + ": no " + name);
  return {to_f32(*t), t->shape};
}

double fp16_storage_rel_err(const std::string& dir) {
  std::ifstream in(dir + "/stats.json");
  return nlohmann::json::parse(in).at("fp16_storage_rel_err").get<double>();
}

std::vector<float> decode(const std::string& dir, DType dt) {
  WeightSet w = WeightSet::load(dir);
  const Component& vae = w.component("vae");
  vae::Decoder dec(test::ctx(), vae, dt);
  Golden lat = golden(dir, "latent");
  Tensor latent = Tensor::from_floats(test::ctx(), lat.shape, dt, lat.values, "latent");
  Sequence s(test::ctx());
  Tensor y = dec.forward(s, latent);
  s.run();
  dec.check_output();
  EXPECT_EQ(y.shape(), golden(dir, "decoded").shape);
  return y.download(test::ctx());
}

std::vector<float> encode(const std::string& dir, DType dt) {
  WeightSet w = WeightSet::load(dir);
  vae::Encoder enc(test::ctx(), w.component("vae"), dt);
  Golden img = golden(dir, "image");
  Tensor image = Tensor::from_floats(test::ctx(), img.shape, dt, img.values, "image");
  Sequence s(test::ctx());
  Tensor m = enc.forward(s, image);
  s.run();
  enc.check_output();
  EXPECT_EQ(m.shape(), golden(dir, "moments").shape);
  return m.download(test::ctx());
}

TEST_F(VaeTest, DecoderTinyFloat32) {
  test::expect_close(decode(kTiny, DType::F32), golden(kTiny, "decoded").values, 1e-4, "vae_tiny decode f32");
}

TEST_F(VaeTest, DecoderHotFloat32) {
  test::expect_close(decode(kHot, DType::F32), golden(kHot, "decoded").values, 1e-4, "vae_hot_tiny decode f32");
}

TEST_F(VaeTest, DecoderTinyFloat16) {
  std::vector<float> got = decode(kTiny, DType::F16);
  std::printf("tiny f16 decode err %.3g\n", test::relative_error(got, golden(kTiny, "decoded").values));
  test::expect_close(got, golden(kTiny, "decoded").values, 2e-3, "vae_tiny decode f16");
}

TEST_F(VaeTest, DecoderHotFloat16) {
  std::vector<float> got = decode(kHot, DType::F16);
  std::printf("hot f16 decode err %.3g (stats %.3g)\n", test::relative_error(got, golden(kHot, "decoded").values),
              fp16_storage_rel_err(kHot));
  test::expect_close(got, golden(kHot, "decoded").values, 3 * fp16_storage_rel_err(kHot), "vae_hot_tiny decode f16");
}

TEST_F(VaeTest, EncoderTinyFloat32) {
  test::expect_close(encode(kTiny, DType::F32), golden(kTiny, "moments").values, 1e-4, "vae_tiny encode f32");
}

TEST_F(VaeTest, EncoderTinyFloat16) {
  std::vector<float> got = encode(kTiny, DType::F16);
  std::printf("tiny f16 encode err %.3g\n", test::relative_error(got, golden(kTiny, "moments").values));
  test::expect_close(got, golden(kTiny, "moments").values, 2e-3, "vae_tiny encode f16");
}

}  // namespace
