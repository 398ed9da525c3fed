// Best-of-N: scores generated images against their prompt with a CLIP model (clip/scorer.h),
// so the best can be kept.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/host_tensor.h"
#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk::pipeline {

class Reranker {
 public:
  // Loads the CLIP model folder at `clip_path` (CLIPModel layout with its tokenizer files).
  Reranker(Context& ctx, const std::string& clip_path, DType dtype);
  ~Reranker();
  // CLIP score (100 * max(cosine, 0)) of each image of images [B,3,H,W] in [0,1] against `prompt`.
  std::vector<float> scores(const HostTensor& images, const std::string& prompt);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sdvk::pipeline
