// Generated images as PNG files with their generation record, and the init image of img2img.
#pragma once
#include <cstdint>
#include <string>

#include "gen/pipeline.h"
#include "image/image.h"

namespace sdvk::gen {

// What made one image: written to the PNG's "parameters" chunk (A1111's format) so the image
// can be regenerated and other tools can read it.
struct ImageRecord {
  std::string prompt, negative_prompt, scheduler, model, init_image;
  int steps = 0, width = 0, height = 0, batch = 1, batch_pos = 0, clip_skip = 0;
  double cfg_scale = 0, strength = 0;
  uint64_t seed = 0;
  double clip_score = -1;  // < 0: not scored
};

// Image `index` of images [B,3,H,W] in [0,1] as 8-bit RGB: round(x * 255), as diffusers'
// numpy_to_pil (what the PNG holds, and so what a reranker should score).
Image to_image(const HostTensor& images, int index);

// Writes image `index` of images [B,3,H,W] in [0,1] as an 8-bit PNG (round(x * 255), as
// to_image), atomically (nothing is left behind on failure).
void write_image_png(const std::string& path, const HostTensor& images, int index, const ImageRecord& record);

// The init image of img2img as [batch,3,H,W] in [0,1]. Error naming --init-image when it
// cannot be read, or when width/height (0: not given) differ from its size.
HostTensor read_init_image(const std::string& path, int width, int height, int batch);

}  // namespace sdvk::gen
