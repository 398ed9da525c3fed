// Images between their 8-bit RGB form (image/image.h: files, CLIP) and the pipeline's float
// tensors [B,3,H,W] in [0,1].
#pragma once
#include "core/host_tensor.h"
#include "image/image.h"

namespace sdvk::pipeline {

// Image `index` of images [B,3,H,W] in [0,1] as 8-bit RGB: round(x * 255), as diffusers'
// numpy_to_pil (what the PNG holds, and so what a reranker should score).
Image to_image(const HostTensor& images, int index);

// An 8-bit RGB image as [batch,3,H,W] in [0,1] (x / 255), the same image in every batch row.
HostTensor to_tensor(const Image& img, int batch);

}  // namespace sdvk::pipeline
