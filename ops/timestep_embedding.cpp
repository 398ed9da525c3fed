#include "ops/timestep_embedding.h"

#include <cmath>

#include "ops/op_util.h"

namespace sdvk::ops {

void timestep_embedding(Sequence& s, const Tensor& timesteps, const Tensor& y,
                        const TimestepEmbeddingParams& params) {
  const std::string shapes = shape_str(timesteps.shape()) + " -> " + shape_str(y.shape());
  check(timesteps.ndim() == 1 && timesteps.dtype() == DType::F32, "timestep_embedding",
        "timesteps must be float32 [B], got " + std::string(dtype_name(timesteps.dtype())) + " " + shapes);
  check(y.ndim() == 2 && y.dim(0) == timesteps.dim(0), "timestep_embedding", "y must be [B, dim], got " + shapes);
  const int64_t half = y.dim(1) / 2;
  // diffusers divides by (half - shift): zero would give NaN frequencies.
  check(double(half) - params.downscale_freq_shift > 0, "timestep_embedding",
        "dim/2 - downscale_freq_shift must be positive, got " + shapes);
  check(params.max_period > 0, "timestep_embedding", "max_period must be positive");
  check(y.numel() <= int64_t(UINT32_MAX), "timestep_embedding", "more than 2^32 elements: " + shapes);
  if (y.numel() == 0) return;

  Context& ctx = s.context();
  const Kernel& k = ctx.kernels().get(variant(ctx, "timestep_embedding", y.dtype()), 2);
  // The float32 constants PyTorch forms from its Python scalars.
  struct {
    uint32_t n, dim, half_dim, flip;
    float neg_log_period, denom, scale;
  } push{uint32_t(y.numel()),
         uint32_t(y.dim(1)),
         uint32_t(half),
         params.flip_sin_to_cos ? 1u : 0u,
         float(-std::log(double(params.max_period))),
         float(double(half) - double(params.downscale_freq_shift)),
         params.scale};
  s.dispatch(k, {in(timesteps), out(y)}, push, {groups_for(y.numel(), 64), 1, 1}, "timestep_embedding");
}

namespace ref {

std::vector<float> timestep_embedding(const std::vector<float>& timesteps, int64_t dim,
                                      const TimestepEmbeddingParams& params) {
  const int64_t half = dim / 2;
  const float neg_log = float(-std::log(double(params.max_period)));
  const float denom = float(double(half) - double(params.downscale_freq_shift));
  std::vector<float> y(timesteps.size() * size_t(dim), 0.0f);
  for (size_t b = 0; b < timesteps.size(); b++) {
    for (int64_t j = 0; j < half; j++) {
      float exponent = (neg_log * float(j)) / denom;       // float32 tensor ops
      float freq = float(std::exp(double(exponent)));      // float32 exp, correctly rounded
      float arg = params.scale * (timesteps[b] * freq);    // float32 products
      float sin_v = float(std::sin(double(arg))), cos_v = float(std::cos(double(arg)));
      float* row = &y[b * size_t(dim)];
      row[j] = params.flip_sin_to_cos ? cos_v : sin_v;
      row[half + j] = params.flip_sin_to_cos ? sin_v : cos_v;
    }
  }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
