// DDPM ancestral sampling (Ho et al., arXiv 2006.11239) as diffusers' DDPMScheduler.
#include <algorithm>
#include <cmath>

#include "scheduler/alpha_scheduler.h"
#include "scheduler/families.h"
#include "scheduler/noise_schedule.h"
#include "scheduler/prediction.h"

namespace sdvk {

namespace {

class Ddpm : public AlphaScheduler {
 public:
  explicit Ddpm(const nlohmann::json& json) : AlphaScheduler(json, "DDPMScheduler", {.allow_sigmoid = true}) {
    ConfigReader config(json, class_name());
    limits_ = X0Limits::read(config, /*has_clip=*/true, /*clip_default=*/true, /*has_thresholding=*/true);
    prediction_ = read_prediction(config);
    read_spacing_options(config, "leading");
    // "learned" variances need a model that also predicts them, which Stable Diffusion is not.
    variance_ = config.choice("variance_type", "fixed_small", {"fixed_small", "fixed_small_log", "fixed_large"});
  }

 private:
  std::vector<double> plan(int steps) override {
    steps_ = steps;
    return spaced_timesteps(spacing_, train_.num_train_timesteps, steps, steps_offset_, /*integer=*/true);
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource& noise) override {
    const int64_t t = int64_t(timesteps()[call]);
    const int64_t prev_t = t - train_.num_train_timesteps / steps_;
    const float alpha_t = train_.alphas_cumprod[size_t(t)];
    const float alpha_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : 1.0f;
    const float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
    const float current_alpha = alpha_t / alpha_prev, current_beta = 1.0f - current_alpha;

    std::vector<float> x0;
    alpha_predict(prediction_, model_output, sample, alpha_t, &x0, nullptr);
    limits_.apply(x0, batch_size());

    // Mean of q(x_prev | x_t, x0) (formula 7 of the paper).
    const float x0_coeff = (std::sqrt(alpha_prev) * current_beta) / beta_t;
    const float sample_coeff = (std::sqrt(current_alpha) * beta_prev) / beta_t;
    std::vector<float> prev(sample.size());
    for (size_t i = 0; i < prev.size(); ++i) prev[i] = x0_coeff * x0[i] + sample_coeff * sample[i];
    if (t > 0) {
      const std::vector<float> z = draw_noise(noise, sample.size());
      const float scale = noise_scale(alpha_t, alpha_prev, current_beta);
      for (size_t i = 0; i < prev.size(); ++i) prev[i] = prev[i] + scale * z[i];
    }
    return prev;
  }

  // The standard deviation of the added noise, by variance_type.
  float noise_scale(float alpha_t, float alpha_prev, float current_beta) const {
    float variance = (1.0f - alpha_prev) / (1.0f - alpha_t) * current_beta;
    variance = std::max(variance, 1e-20f);
    if (variance_ == "fixed_small") return std::sqrt(variance);
    if (variance_ == "fixed_small_log") return std::exp(0.5f * std::log(variance));
    return std::sqrt(current_beta);  // fixed_large
  }

  X0Limits limits_;
  Prediction prediction_;
  std::string variance_;
  int steps_ = 1;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddpm(const nlohmann::json& config) { return std::make_unique<Ddpm>(config); }

}  // namespace sdvk
