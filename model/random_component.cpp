#include "model/random_component.h"

#include <cmath>
#include <random>

#include "core/error.h"
#include "model/unet_config.h"
#include "model/vae_config.h"

namespace sdvk {
namespace {

// Window offsets are spread over this many values past the largest tensor.
constexpr size_t kSpread = size_t(1) << 20;

// FNV-1a: a stable per-name offset (std::hash may differ between standard libraries).
uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// A norm layer's parameters: the module name before ".weight"/".bias" mentions "norm"
// (norm1, group_norm, conv_norm_out, final_layer_norm, ...).
bool is_norm(const std::string& name) {
  size_t dot = name.rfind('.');
  size_t start = name.rfind('.', dot == std::string::npos || dot == 0 ? 0 : dot - 1);
  std::string module = name.substr(start == std::string::npos ? 0 : start + 1, dot - (start == std::string::npos ? 0 : start + 1));
  return module.find("norm") != std::string::npos;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

nlohmann::json sd15_unet_config() {
  return {{"_class_name", "UNet2DConditionModel"},
          {"block_out_channels", {320, 640, 1280, 1280}},
          {"layers_per_block", 2},
          {"attention_head_dim", 8},
          {"cross_attention_dim", 768},
          {"in_channels", 4},
          {"out_channels", 4},
          {"norm_num_groups", 32},
          {"sample_size", 64}};
}

nlohmann::json sd15_vae_config() {
  return {{"_class_name", "AutoencoderKL"},
          {"block_out_channels", {128, 256, 512, 512}},
          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}},
          {"layers_per_block", 2},
          {"latent_channels", 4},
          {"norm_num_groups", 32},
          {"sample_size", 512},
          {"scaling_factor", 0.18215}};
}

nlohmann::json sdxl_unet_config() {
  return {{"_class_name", "UNet2DConditionModel"},
          {"block_out_channels", {320, 640, 1280}},
          {"down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"}},
          {"up_block_types", {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"}},
          {"layers_per_block", 2},
          {"attention_head_dim", {5, 10, 20}},
          {"transformer_layers_per_block", {1, 2, 10}},
          {"cross_attention_dim", 2048},
          {"use_linear_projection", true},
          {"addition_embed_type", "text_time"},
          {"addition_time_embed_dim", 256},
          {"projection_class_embeddings_input_dim", 2816},
          {"in_channels", 4},
          {"out_channels", 4},
          {"norm_num_groups", 32},
          {"sample_size", 128}};
}

nlohmann::json sdxl_vae_config() {
  nlohmann::json c = sd15_vae_config();
  c["sample_size"] = 1024;
  c["scaling_factor"] = 0.13025;
  c["force_upcast"] = true;
  return c;
}

RandomComponent random_component(const std::string& name, ComponentKind kind, const nlohmann::json& config,
                                 uint64_t seed, float stddev) {
  RandomComponent r;
  Component& c = r.component;
  c.name = name;
  c.kind = kind;
  c.source = "random weights (seed " + std::to_string(seed) + ")";
  const std::string where = name + " (in-memory random " + component_class_name(kind) + ")";
  TensorSpecs specs;
  if (kind == ComponentKind::UNet) {
    c.config = unet_default_config();
    c.config.update(config, true);
    specs = unet_tensor_specs(c.config, where);
  } else if (kind == ComponentKind::VAE) {
    c.config = vae_default_config();
    c.config.update(config, true);
    specs = vae_tensor_specs(c.config, where);
  } else {
    throw Error(where + ": random weights are only built for UNet and VAE components");
  }

  size_t largest = 1, largest_norm = 1;
  for (auto& [n, shape] : specs) {
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    largest = std::max(largest, numel);
    if (is_norm(n)) largest_norm = std::max(largest_norm, numel);
  }
  // Pool layout: [random: largest + kSpread][ones: largest_norm][zeros: largest_norm]
  const size_t random_n = largest + kSpread, ones_at = random_n, zeros_at = random_n + largest_norm;
  auto pool = std::make_shared<std::vector<float>>(random_n + 2 * largest_norm, 0.0f);
  std::mt19937_64 rng(seed);
  const double two_pi = 6.283185307179586;
  for (size_t i = 0; i < random_n; i += 2) {  // Box-Muller: the same values with any standard library
    double u1 = (double(rng() >> 11) + 1.0) * 0x1.0p-53, u2 = double(rng() >> 11) * 0x1.0p-53;
    double m = std::sqrt(-2.0 * std::log(u1));
    (*pool)[i] = float(stddev * m * std::cos(two_pi * u2));
    if (i + 1 < random_n) (*pool)[i + 1] = float(stddev * m * std::sin(two_pi * u2));
  }
  std::fill(pool->begin() + ones_at, pool->begin() + zeros_at, 1.0f);

  for (auto& [n, shape] : specs) {
    TensorInfo t;
    t.name = n;
    t.dtype = FileDType::F32;
    t.shape = shape;
    size_t at = name_hash(n) % kSpread;
    if (is_norm(n)) at = ends_with(n, ".weight") ? ones_at : zeros_at;
    t.data = reinterpret_cast<const uint8_t*>(pool->data() + at);
    t.size = size_t(t.numel()) * 4;
    t.file = c.source;
    c.tensors[n] = t;
  }
  r.pool = pool;
  return r;
}

}  // namespace sdvk
