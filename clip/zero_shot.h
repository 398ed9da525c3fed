// Zero-shot classification with a CLIP model, as open_clip's build_zero_shot_classifier: each
// label's weight is the L2-normalised mean of its prompts' normalised text embeddings, and an
// image's label probabilities are softmax(logit_scale * cosine) over the labels.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "clip/scorer.h"

namespace sdvk {

// OpenAI's 80 ImageNet prompt templates (the CLIP repository's Prompt_Engineering notebook),
// each with one "{}" where the label goes.
const std::vector<std::string>& openai_imagenet_templates();

// `tmpl` with its first "{}" replaced by `label` (Error when it has none).
std::string fill_template(const std::string& tmpl, const std::string& label);

// [labels, P] row-major, each row unit length.
std::vector<float> zero_shot_weights(const ClipScorer& scorer, const std::vector<std::string>& labels,
                                     const std::vector<std::string>& templates);

// [N, labels] probabilities of `image_embeds` [N,P] (not normalised) against `weights`.
std::vector<float> zero_shot_probabilities(const std::vector<float>& image_embeds, const std::vector<float>& weights,
                                           int64_t projection_dim, float logit_scale);

}  // namespace sdvk
