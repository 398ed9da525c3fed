// A network built in memory with deterministic random weights, under the real checkpoint names
// and the shapes its config implies (model/unet_config.h, model/vae_config.h): for benchmarks
// and smoke tests at sizes no test file has (SD 1.5's and SDXL's real dimensions), without a download.
//   RandomComponent u = random_component("unet", ComponentKind::UNet, sd15_unet_config(), 1);
//   unet::UNet2DConditionModel m(ctx, u.component, DType::F16);
// Weights: N(0, stddev), norm weights 1 and norm biases 0 (so activations keep their scale).
// To keep host memory small, every tensor is a window into one shared pool of random values at
// an offset hashed from its name: distinct layers get distinct (overlapping) values.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/weights.h"

namespace sdvk {

struct RandomComponent {
  Component component;                        // tensors point into `pool`
  std::shared_ptr<const std::vector<float>> pool;
};

// `config` overlays the class defaults (diffusers key names), as a config.json would.
// Supports ComponentKind::UNet and ComponentKind::VAE; throws Error for other kinds.
RandomComponent random_component(const std::string& name, ComponentKind kind, const nlohmann::json& config,
                                 uint64_t seed, float stddev = 0.02f);

// runwayml/stable-diffusion-v1-5's unet/config.json and vae/config.json, the values that differ
// from the class defaults.
nlohmann::json sd15_unet_config();  // 320/640/1280/1280, 2 layers, 8 heads, context 768, sample 64
nlohmann::json sd15_vae_config();   // 128/256/512/512, 2 layers, 32 groups, sample 512
// stabilityai/stable-diffusion-xl-base-1.0's: UNet 320/640/1280, transformer depth 1/2/10,
// 64-wide heads, context 2048, text_time add embedding (1280 + 6 x 256), sample 128; the VAE
// is SD 1.5's with scaling 0.13025 and force_upcast.
nlohmann::json sdxl_unet_config();
nlohmann::json sdxl_vae_config();

}  // namespace sdvk
