#include "gen/image_output.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "image/image.h"
#include "image/parameters.h"

namespace sdvk::gen {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// numpy_to_pil: (image * 255).round() in float32, numpy rounding half to even.
uint8_t to_u8(float v) { return uint8_t(std::nearbyint(std::clamp(v, 0.0f, 1.0f) * 255.0f)); }

}  // namespace

Image to_image(const HostTensor& images, int index) {
  const int64_t C = images.shape.at(1), H = images.shape.at(2), W = images.shape.at(3);
  Image img;
  img.width = int(W);
  img.height = int(H);
  img.channels = 3;
  img.pixels.resize(size_t(W * H * 3));
  const float* src = images.values.data() + size_t(index) * size_t(C * H * W);
  for (int64_t c = 0; c < 3; c++)  // NCHW -> HWC
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++)
        img.pixels[size_t((y * W + x) * 3 + c)] = to_u8(src[(c * H + y) * W + x]);
  return img;
}

void write_image_png(const std::string& path, const HostTensor& images, int index, const ImageRecord& r) {
  Image img = to_image(images, index);

  GenerationParameters p;
  p.prompt = r.prompt;
  p.negative_prompt = r.negative_prompt;
  p.steps = r.steps;
  p.sampler = r.scheduler;
  p.cfg_scale = r.cfg_scale;
  p.seed = r.seed;
  p.width = r.width;
  p.height = r.height;
  p.model = std::filesystem::path(r.model).filename().string();
  p.version = std::string("sdvk ") + SDVK_VERSION;
  if (r.batch > 1) {
    p.extra.push_back({"Batch size", std::to_string(r.batch)});
    p.extra.push_back({"Batch pos", std::to_string(r.batch_pos)});
  }
  if (r.clip_skip > 0) p.extra.push_back({"Clip skip", std::to_string(r.clip_skip + 1)});  // A1111 counts from 1
  if (!r.init_image.empty()) p.extra.push_back({"Denoising strength", number(r.strength)});
  if (r.clip_score >= 0) p.extra.push_back({"CLIP score", number(r.clip_score)});
  write_png(path, img, {{"parameters", format_parameters(p)}});
}

HostTensor read_init_image(const std::string& path, int width, int height, int batch) {
  Image img;
  try {
    img = read_image(path);
  } catch (const Error& e) {
    throw Error(std::string("--init-image: ") + e.what());
  }
  if ((width && width != img.width) || (height && height != img.height))
    throw Error("--init-image " + path + ": the image is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                ", not the " + std::to_string(width ? width : img.width) + "x" +
                std::to_string(height ? height : img.height) + " asked for (leave --width/--height out to use its size)");
  HostTensor t;
  const int64_t H = img.height, W = img.width;
  t.shape = {batch, 3, H, W};
  t.values.resize(size_t(batch * 3 * H * W));
  for (int64_t c = 0; c < 3; c++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) t.values[size_t((c * H + y) * W + x)] = img.pixels[size_t((y * W + x) * 3 + c)] / 255.0f;
  for (int b = 1; b < batch; b++) std::copy_n(t.values.begin(), 3 * H * W, t.values.begin() + b * 3 * H * W);
  return t;
}

}  // namespace sdvk::gen
