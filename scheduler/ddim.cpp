// DDIM (Song et al., arXiv 2010.02502) as diffusers' DDIMScheduler, with eta = 0 (the
// deterministic sampler every Stable Diffusion pipeline uses by default).
#include <cmath>

#include "scheduler/alpha_scheduler.h"
#include "scheduler/families.h"
#include "scheduler/noise_schedule.h"
#include "scheduler/prediction.h"

namespace sdvk {

namespace {

class Ddim : public AlphaScheduler {
 public:
  explicit Ddim(const nlohmann::json& json) : AlphaScheduler(json, "DDIMScheduler", {.allow_zero_snr = true}) {
    ConfigReader config(json, class_name());
    limits_ = X0Limits::read(config, /*has_clip=*/true, /*clip_default=*/true, /*has_thresholding=*/true);
    prediction_ = read_prediction(config);
    read_spacing_options(config, "leading");
    final_alpha_cumprod_ = config.flag("set_alpha_to_one", true) ? 1.0f : train_.alphas_cumprod[0];
  }

 private:
  std::vector<double> plan(int steps) override {
    steps_ = steps;
    return spaced_timesteps(spacing_, train_.num_train_timesteps, steps, steps_offset_, /*integer=*/true);
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource&) override {
    const int64_t t = int64_t(timesteps()[call]);
    const int64_t prev_t = t - train_.num_train_timesteps / steps_;
    const float alpha_t = train_.alphas_cumprod[size_t(t)];
    const float alpha_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : final_alpha_cumprod_;
    std::vector<float> x0, eps;
    alpha_predict(prediction_, model_output, sample, alpha_t, &x0, &eps);
    limits_.apply(x0, batch_size());
    // x_prev = sqrt(alpha_prev) * x0 + sqrt(1 - alpha_prev - sigma^2) * eps, with sigma = 0.
    const float x0_coeff = std::sqrt(alpha_prev), eps_coeff = std::sqrt(1.0f - alpha_prev);
    std::vector<float> prev(sample.size());
    for (size_t i = 0; i < prev.size(); ++i) prev[i] = x0_coeff * x0[i] + eps_coeff * eps[i];
    return prev;
  }

  X0Limits limits_;
  Prediction prediction_;
  float final_alpha_cumprod_ = 1.0f;
  int steps_ = 1;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const nlohmann::json& config) { return std::make_unique<Ddim>(config); }

}  // namespace sdvk
