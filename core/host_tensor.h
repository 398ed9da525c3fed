// A tensor on the host: latents, images and embeddings between the device's networks and the
// CPU's scheduler, files and image formats. Float32, row-major (NCHW for images and latents).
#pragma once
#include <vector>

#include "core/shape.h"

namespace sdvk {

struct HostTensor {
  Shape shape;
  std::vector<float> values;
};

}  // namespace sdvk
