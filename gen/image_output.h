// Generated images as PNG files with their generation record, and the init image of img2img.
#pragma once
#include <string>

#include "core/host_tensor.h"
#include "image/parameters.h"

namespace sdvk::gen {

// Writes image `index` of images [B,3,H,W] in [0,1] as an 8-bit PNG (pipeline::to_image) with
// `record` in its "parameters" chunk, atomically (nothing is left behind on failure).
void write_image_png(const std::string& path, const HostTensor& images, int index, const GenerationParameters& record);

// The init image of img2img as [batch,3,H,W] in [0,1]. Error naming --init-image when it
// cannot be read, or when width/height (0: not given) differ from its size.
HostTensor read_init_image(const std::string& path, int width, int height, int batch);

}  // namespace sdvk::gen
