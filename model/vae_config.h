// diffusers AutoencoderKL (the Stable Diffusion VAE): default config, the tensors a config
// implies, and a config read off tensor shapes.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/tensor_specs.h"

namespace sdvk {

nlohmann::json vae_default_config();  // AutoencoderKL's constructor defaults, scaling_factor 0.18215

// Canonical name -> shape for every tensor of an AutoencoderKL with this config; throws
// Error("<where>: ...") for out-of-range or unsupported values.
TensorSpecs vae_tensor_specs(const nlohmann::json& config, const std::string& where);

// The config from the shapes of diffusers-named tensors; norm groups (32) and scaling factor
// (0.18215) are not in any shape and are listed in `assumptions`.
nlohmann::json infer_vae_config(const TensorMap& tensors, const std::string& where,
                                std::vector<std::string>* assumptions);

}  // namespace sdvk
