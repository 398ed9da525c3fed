#include "pipeline/rerank.h"

#include "clip/scorer.h"
#include "core/error.h"
#include "pipeline/images.h"

namespace sdvk::pipeline {

struct Reranker::Impl {
  std::unique_ptr<ClipScorer> scorer;
};

Reranker::Reranker(Context& ctx, const std::string& clip_path, DType dtype) : impl_(std::make_unique<Impl>()) {
  impl_->scorer = ClipScorer::open(ctx, clip_path, dtype);
}

Reranker::~Reranker() = default;

std::vector<float> Reranker::scores(const HostTensor& images, const std::string& prompt) {
  std::vector<Image> batch;
  for (int64_t k = 0; k < images.shape.at(0); k++) batch.push_back(to_image(images, int(k)));
  std::vector<ClipScore> s = impl_->scorer->scores(batch, std::vector<std::string>(batch.size(), prompt));
  std::vector<float> out;
  for (auto& x : s) out.push_back(x.score);
  return out;
}

}  // namespace sdvk::pipeline
