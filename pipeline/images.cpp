#include "pipeline/images.h"

#include <algorithm>
#include <cmath>

namespace sdvk::pipeline {

namespace {

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

HostTensor to_tensor(const Image& img, int batch) {
  HostTensor t;
  const int64_t H = img.height, W = img.width;
  t.shape = {batch, 3, H, W};
  t.values.resize(size_t(batch * 3 * H * W));
  for (int64_t c = 0; c < 3; c++)  // HWC -> NCHW
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) t.values[size_t((c * H + y) * W + x)] = img.pixels[size_t((y * W + x) * 3 + c)] / 255.0f;
  for (int b = 1; b < batch; b++) std::copy_n(t.values.begin(), 3 * H * W, t.values.begin() + b * 3 * H * W);
  return t;
}

}  // namespace sdvk::pipeline
