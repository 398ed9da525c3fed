// diffusers UNet2DConditionModel, the Stable Diffusion 1.x / 2.x / XL subset: the default config,
// the tensors a config implies, and a config read off the tensor shapes of a file that has none.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/tensor_specs.h"

namespace sdvk {

// The constructor defaults of UNet2DConditionModel (diffusers 0.21); a config.json overrides them.
nlohmann::json unet_default_config();

// Canonical name -> shape for every tensor of a UNet with this config. Throws Error("<where>:
// ...") for out-of-range values and for features this engine does not load (class embeddings,
// added embeddings other than SDXL's text_time, other block types).
TensorSpecs unet_tensor_specs(const nlohmann::json& config, const std::string& where);

// The config from the shapes of diffusers-named tensors. The head count is not stored in any
// shape: it follows the SD convention (8 heads for conv projections as in SD 1.x, 64-wide heads
// for linear projections as in SD 2.x), as diffusers' single-file loader does; that and the
// other conventions (norm groups 32; SDXL's 256-wide add_time_ids sinusoids, which the caller
// corrects when it knows the pooled text width) are described in `assumptions`.
nlohmann::json infer_unet_config(const TensorMap& tensors, const std::string& where,
                                 std::vector<std::string>* assumptions);

}  // namespace sdvk
