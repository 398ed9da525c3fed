// CLIP preprocessing against Pillow and a numpy transcription of transformers'
// CLIPImageProcessor (tests/data/clip_preprocess, made by scripts/make_preprocess_reference.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "clip/preprocess.h"
#include "core/error.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(SDVK_TEST_DATA) + "/clip_preprocess";

// Every resize_<image>_<W>x<H>.png in the folder: upscaling, non-integer downscaling, one axis
// only, non-square. Exact: the resize reproduces PIL's fixed-point arithmetic, so any
// difference, even one level, is a bug.
TEST(ClipPreprocess, BicubicResizeMatchesPillowExactly) {
  std::regex name("resize_([a-z]+)_([0-9]+)x([0-9]+)\\.png");
  int cases = 0;
  for (auto& entry : fs::directory_iterator(kData)) {
    std::smatch m;
    std::string file = entry.path().filename().string();
    if (!std::regex_match(file, m, name)) continue;
    SCOPED_TRACE(file);
    Image in = read_image(kData + "/in_" + m[1].str() + ".png");
    Image want = read_image(entry.path().string());
    Image got = resize_bicubic(in, std::stoi(m[2]), std::stoi(m[3]));
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    int max_diff = 0, differing = 0;
    for (size_t i = 0; i < want.pixels.size(); i++) {
      int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
      max_diff = std::max(max_diff, d);
      differing += d != 0;
    }
    EXPECT_EQ(max_diff, 0) << differing << " of " << want.pixels.size() << " bytes differ";
    cases++;
  }
  EXPECT_EQ(cases, 10);
}

TEST(ClipPreprocess, ShortestEdgeSizeAndCentreCropFollowTransformers) {
  EXPECT_EQ(shortest_edge_size(480, 640, 224), (std::pair{224, 298}));  // int(224 * 640 / 480) = 298
  EXPECT_EQ(shortest_edge_size(640, 480, 224), (std::pair{298, 224}));
  EXPECT_EQ(shortest_edge_size(100, 100, 224), (std::pair{224, 224}));
  EXPECT_EQ(shortest_edge_size(23, 37, 32), (std::pair{32, 51}));       // 51.47 -> 51
  Image img{5, 4, 3, {}};
  for (int i = 0; i < 20; i++)
    for (int c = 0; c < 3; c++) img.pixels.push_back(uint8_t(i + 1));
  Image c = center_crop(img, 2, 2);  // top (4-2)//2 = 1, left (5-2)//2 = 1
  EXPECT_EQ(c.pixels[0], 7);
  EXPECT_EQ(c.pixels[3 * 3], 13);
  Image p = center_crop(img, 6, 7);  // larger: zeros, the image at top ceil(2/2)=1, left ceil(2/2)=1
  EXPECT_EQ(p.pixels[0], 0);
  EXPECT_EQ(p.pixels[(1 * 7 + 1) * 3], 1);
  EXPECT_EQ(p.pixels[(4 * 7 + 5) * 3], 20);
  EXPECT_EQ(p.pixels[(5 * 7 + 6) * 3], 0);
  Image q = center_crop(img, 5, 5);  // one more row than the image: padding ceil(1/2) = 1 on top
  EXPECT_EQ(q.pixels[0], 0);
  EXPECT_EQ(q.pixels[5 * 3], 1);
}

// The whole pipeline: float32 exactly as transformers computes it (same operations, same
// order), so the bound is a few float32 ulps of values up to ~2.2.
TEST(ClipPreprocess, PixelValuesMatchTransformersPipeline) {
  SafetensorsFile ref(kData + "/pixel_values.safetensors");
  int cases = 0;
  for (const char* image : {"noise", "gradient"})
    for (auto [size, crop] : {std::pair{32, 32}, std::pair{64, 48}, std::pair{20, 24}}) {
      std::string key = std::string(image) + "_" + std::to_string(size) + "_" + std::to_string(crop);
      SCOPED_TRACE(key);
      ClipPreprocessConfig cfg;
      cfg.shortest_edge = size;
      cfg.crop_height = cfg.crop_width = crop;
      std::vector<float> got = clip_pixel_values(std::vector<Image>{read_image(kData + "/in_" + image + ".png")}, cfg);
      const TensorInfo* t = ref.find(key);
      ASSERT_TRUE(t);
      EXPECT_EQ(t->shape, (std::vector<int64_t>{1, 3, crop, crop}));
      std::vector<float> want = to_f32(*t);
      ASSERT_EQ(got.size(), want.size());
      double worst = 0;
      for (size_t i = 0; i < got.size(); i++) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
      EXPECT_LE(worst, 1e-6);
      cases++;
    }
  EXPECT_EQ(cases, 6);
}

TEST(ClipPreprocess, ExtremeAspectRatioIsRefused) {
  Image strip{1, 4000, 3, std::vector<uint8_t>(4000 * 3, 128)};  // would become 224 x 896000
  ClipPreprocessConfig cfg;
  EXPECT_THROW(clip_pixel_values(strip, cfg), Error);
  Image tall{30, 4000, 3, std::vector<uint8_t>(30 * 4000 * 3, 128)};  // 224 x 29866: fine
  EXPECT_EQ(clip_pixel_values(tall, cfg).size(), size_t(3 * 224 * 224));
}

TEST(ClipPreprocess, ConfigFromFileDefaultsAndModelSize) {
  fs::path d = fs::temp_directory_path() / ("sdvk-preproc-" + std::to_string(::getpid()));
  fs::create_directories(d);
  std::string note;
  // No file: OpenAI CLIP defaults, which fit a 224 model.
  ClipPreprocessConfig c = load_clip_preprocess_config(d.string(), 224, &note);
  EXPECT_EQ(c.shortest_edge, 224);
  EXPECT_EQ(c.crop_height, 224);
  EXPECT_FLOAT_EQ(c.image_mean[0], 0.48145466f);
  EXPECT_TRUE(note.empty());
  // ... but not the 32-pixel test model: its size wins, and the note says so.
  c = load_clip_preprocess_config(d.string(), 32, &note);
  EXPECT_EQ(c.shortest_edge, 32);
  EXPECT_EQ(c.crop_width, 32);
  EXPECT_NE(note.find("32x32"), std::string::npos) << note;
  // transformers' file layout (ViT-L/14-336 style).
  std::ofstream(d / "preprocessor_config.json")
      << R"({"crop_size": {"height": 336, "width": 336}, "do_center_crop": true, "do_normalize": true,
             "do_resize": true, "image_mean": [0.5, 0.25, 0.125], "image_std": [0.5, 0.5, 1.0],
             "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}})";
  note.clear();
  c = load_clip_preprocess_config(d.string(), 336, &note);
  EXPECT_EQ(c.shortest_edge, 336);
  EXPECT_EQ(c.crop_height, 336);
  EXPECT_EQ(c.image_mean[2], 0.125f);
  EXPECT_EQ(c.image_std[2], 1.0f);
  EXPECT_TRUE(note.empty());
  std::ofstream(d / "preprocessor_config.json") << R"({"size": 224, "crop_size": 224, "resample": 2})";
  EXPECT_THROW(load_clip_preprocess_config(d.string(), 224, &note), Error);  // bilinear: not CLIP's
  std::ofstream(d / "preprocessor_config.json") << R"({"image_std": [0.5, 0.0, 1.0]})";
  EXPECT_THROW(load_clip_preprocess_config(d.string(), 224, &note), Error);
  fs::remove_all(d);
}

}  // namespace
