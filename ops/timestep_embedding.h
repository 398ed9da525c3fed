// Sinusoidal timestep embedding, diffusers get_timestep_embedding (models/embeddings.py).
#pragma once
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

struct TimestepEmbeddingParams {
  bool flip_sin_to_cos = true;       // SD's UNet: true
  float downscale_freq_shift = 0.0f;  // SD's UNet: 0
  float scale = 1.0f;
  int max_period = 10000;
};

// timesteps [B] (float32) -> y [B, dim] (float32 or float16), dim = y.dim(1):
//   freq[j] = exp(-ln(max_period) * j / (dim/2 - downscale_freq_shift)), j < dim/2
//   y[b] = cat(sin(scale * t[b] * freq), cos(...)), halves swapped when flip_sin_to_cos,
//   a zero column appended when dim is odd. Computed in float32 as PyTorch does.
void timestep_embedding(Sequence& s, const Tensor& timesteps, const Tensor& y,
                        const TimestepEmbeddingParams& params = {});

namespace ref {
// float32 frequencies and arguments exactly as PyTorch forms them; sin/cos in double.
std::vector<float> timestep_embedding(const std::vector<float>& timesteps, int64_t dim,
                                      const TimestepEmbeddingParams& params = {});
}  // namespace ref

}  // namespace sdvk::ops
