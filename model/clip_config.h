// Hugging Face CLIP in transformers layout: the text tower alone (CLIPTextModel, what Stable
// Diffusion pipelines ship as text_encoder/), optionally with its projection
// (CLIPTextModelWithProjection), and the whole CLIPModel (both towers, projections,
// logit_scale) used for scoring.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/tensor_specs.h"

namespace sdvk {

nlohmann::json clip_text_default_config();    // CLIPTextConfig defaults
nlohmann::json clip_vision_default_config();  // CLIPVisionConfig defaults
nlohmann::json clip_model_default_config();   // CLIPConfig: {"text_config", "vision_config", "projection_dim", ...}

// Tensors of the text tower ("text_model.*"), plus "text_projection.weight" when
// `with_projection`. Throws Error("<where>: ...") for out-of-range values.
TensorSpecs clip_text_tensor_specs(const nlohmann::json& text_config, const std::string& where, bool with_projection);

// Tensors of a whole CLIPModel.
TensorSpecs clip_model_tensor_specs(const nlohmann::json& config, const std::string& where);

// A text config from the shapes of "text_model.*" tensors. Heads are not stored in any shape:
// width / 64 (CLIP ViT-L/14 and OpenCLIP ViT-H/14 both use 64-wide heads), listed in
// `assumptions`. `hidden_act` is the family's activation (quick_gelu for OpenAI CLIP, gelu for
// OpenCLIP), which no shape shows either.
nlohmann::json infer_clip_text_config(const TensorMap& tensors, const std::string& where, const std::string& hidden_act,
                                      std::vector<std::string>* assumptions, const std::string& label = "text_encoder");

// A CLIPModel config from the shapes of a whole model's tensors.
nlohmann::json infer_clip_model_config(const TensorMap& tensors, const std::string& where,
                                       std::vector<std::string>* assumptions);

}  // namespace sdvk
