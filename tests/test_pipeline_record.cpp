// The pipeline's host-side pieces, linked from the engine library: the PNG generation record
// (its A1111 fields and extra keys, in order) and images between 8-bit RGB and float tensors.
#include <gtest/gtest.h>

#include "image/parameters.h"
#include "pipeline/generation_record.h"
#include "pipeline/images.h"

using namespace sdvk;

TEST(GenerationRecord, FieldsAndExtrasInOrder) {
  pipeline::GenerationRecord r;
  r.prompt = "a red star";
  r.negative_prompt = "blurry";
  r.scheduler = "ddim";
  r.model = "/models/demo-sd";
  r.steps = 20;
  r.width = 64;
  r.height = 48;
  r.batch = 3;
  r.clip_skip = 1;
  r.cfg_scale = 7.5;
  r.seed = 42;
  r.init_image = "in.png";
  r.strength = 0.75;
  GenerationParameters p = r.parameters(2, 31.25);
  EXPECT_EQ(p.prompt, "a red star");
  EXPECT_EQ(p.negative_prompt, "blurry");
  EXPECT_EQ(p.sampler, "ddim");
  EXPECT_EQ(p.model, "demo-sd");  // the model's name, not its path
  EXPECT_EQ(p.steps, 20);
  EXPECT_EQ(p.width, 64);
  EXPECT_EQ(p.height, 48);
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.cfg_scale, 7.5);
  EXPECT_EQ(p.version, std::string("sdvk ") + SDVK_VERSION);
  const std::vector<std::pair<std::string, std::string>> extra = {
      {"Batch size", "3"}, {"Batch pos", "2"}, {"Clip skip", "2"}, {"Denoising strength", "0.75"}, {"CLIP score", "31.25"}};
  EXPECT_EQ(p.extra, extra);
}

TEST(GenerationRecord, PlainRunHasNoExtras) {
  pipeline::GenerationRecord r;
  r.prompt = "x";
  EXPECT_TRUE(r.parameters(0, -1).extra.empty());
}

TEST(PipelineImages, TensorAndImageRoundTrip) {
  Image img;
  img.width = 3;
  img.height = 2;
  img.pixels = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 250, 254, 255};
  HostTensor t = pipeline::to_tensor(img, 2);
  ASSERT_EQ(t.shape, (Shape{2, 3, 2, 3}));
  EXPECT_EQ(t.values[1], 30 / 255.0f);          // channel 0, pixel (0, 1)
  EXPECT_EQ(t.values[6], 10 / 255.0f);          // channel 1, pixel (0, 0)
  EXPECT_EQ(t.values[18 + 17], 255 / 255.0f);   // second batch row repeats the first
  for (int k = 0; k < 2; k++) EXPECT_EQ(pipeline::to_image(t, k).pixels, img.pixels);
}
