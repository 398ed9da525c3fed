// Latent consistency model sampling (Luo et al., arXiv 2310.04378, algorithm 1). Not in
// diffusers v0.21.4: this follows LCMScheduler of diffusers v0.27.2
// (src/diffusers/schedulers/scheduling_lcm.py), without custom timesteps or the strength argument of
// its set_timesteps (LCM's own img2img pipeline); StableDiffusionImg2ImgPipeline's slicing works.
// Each step maps the latent to its consistency-model estimate of the clean latent,
//   denoised = c_skip(t) * x + c_out(t) * x0_pred(t),
//   c_skip = s^2 / ((10 t)^2 + s^2), c_out = 10 t / sqrt((10 t)^2 + s^2), s = sigma_data = 0.5,
// (10 = timestep_scaling), then noises it again to the next timestep with fresh noise; the
// last step returns the estimate itself. Timesteps are a subset of the distillation schedule
// (every T / original_inference_steps-th timestep).
#include <cmath>

#include "core/error.h"
#include "scheduler/alpha_scheduler.h"
#include "scheduler/families.h"
#include "scheduler/noise_schedule.h"
#include "scheduler/prediction.h"

namespace sdvk {

namespace {

BetaOptions lcm_betas() {
  BetaOptions b;
  b.default_schedule = "scaled_linear";
  b.default_start = 0.00085;
  b.default_end = 0.012;
  b.allow_zero_snr = true;
  return b;
}

class Lcm : public AlphaScheduler {
 public:
  explicit Lcm(const nlohmann::json& json) : AlphaScheduler(json, "LCMScheduler", lcm_betas()) {
    ConfigReader config(json, class_name());
    original_steps_ = int(config.integer("original_inference_steps", 50, 1, train_.num_train_timesteps));
    limits_ = X0Limits::read(config, /*has_clip=*/true, /*clip_default=*/false, /*has_thresholding=*/true);
    final_alpha_cumprod_ = config.flag("set_alpha_to_one", true) ? 1.0f : train_.alphas_cumprod[0];
    prediction_ = read_prediction(config);
    timestep_scaling_ = float(config.number("timestep_scaling", 10.0, 0.0, 1e6));
  }

 private:
  int max_steps() const override { return original_steps_; }

  std::vector<double> plan(int steps) override {
    // The distillation schedule, descending: k * original_steps - 1, ..., 2k - 1, k - 1.
    const int64_t k = train_.num_train_timesteps / original_steps_;
    std::vector<double> origin;
    for (int64_t i = original_steps_; i >= 1; --i) origin.push_back(double(i * k - 1));
    // Indices floor(linspace(0, len, steps, endpoint=False)).
    std::vector<double> timesteps;
    const double stride = double(origin.size()) / steps;
    for (int i = 0; i < steps; ++i) timesteps.push_back(origin[size_t(std::floor(double(i) * stride))]);
    return timesteps;
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource& noise) override {
    const auto& ts = timesteps();
    const bool last = call + 1 == ts.size();
    const int64_t t = int64_t(ts[call]);
    const int64_t prev_t = last ? t : int64_t(ts[call + 1]);
    const float alpha_t = train_.alphas_cumprod[size_t(t)];
    const float alpha_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : final_alpha_cumprod_;

    const float sigma_data2 = 0.5f * 0.5f;
    const float scaled_t = float(t) * timestep_scaling_;
    const float c_skip = sigma_data2 / (scaled_t * scaled_t + sigma_data2);
    const float c_out = scaled_t / std::sqrt(scaled_t * scaled_t + sigma_data2);

    std::vector<float> x0;
    alpha_predict(prediction_, model_output, sample, alpha_t, &x0, nullptr);
    limits_.apply(x0, batch_size());
    std::vector<float> denoised(sample.size());
    for (size_t i = 0; i < denoised.size(); ++i) denoised[i] = c_out * x0[i] + c_skip * sample[i];
    if (last) return denoised;
    const std::vector<float> z = draw_noise(noise, sample.size());
    const float keep = std::sqrt(alpha_prev), add = std::sqrt(1.0f - alpha_prev);
    std::vector<float> prev(sample.size());
    for (size_t i = 0; i < prev.size(); ++i) prev[i] = keep * denoised[i] + add * z[i];
    return prev;
  }

  int original_steps_ = 50;
  X0Limits limits_;
  float final_alpha_cumprod_ = 1.0f;
  Prediction prediction_;
  float timestep_scaling_ = 10.0f;
};

}  // namespace

std::unique_ptr<Scheduler> make_lcm(const nlohmann::json& config) { return std::make_unique<Lcm>(config); }

}  // namespace sdvk
