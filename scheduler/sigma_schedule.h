// The inference sigmas of the k-diffusion style schedulers (Euler, Euler ancestral, Heun, LMS):
// x_t = x0 + sigma_t * noise, with sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) read off
// the training schedule at the planned timesteps.
#pragma once
#include <vector>

#include "scheduler/noise_schedule.h"
#include "scheduler/prediction.h"
#include "scheduler/scheduler.h"

namespace sdvk {

struct SigmaOptions {
  Spacing spacing = Spacing::Linspace;
  int64_t steps_offset = 0;
  bool karras = false;      // use_karras_sigmas
  bool log_linear = false;  // EulerDiscreteScheduler's interpolation_type "log_linear"
};

// Reads timestep_spacing (default linspace), steps_offset and, where the class has them,
// use_karras_sigmas and interpolation_type.
SigmaOptions read_sigma_options(const ConfigReader& config, int num_train_timesteps, bool has_karras,
                                bool has_interpolation);

struct SigmaPlan {
  std::vector<double> timesteps;  // one per step, what the model gets
  std::vector<float> sigmas;      // one per step, then a final 0 (float32, as diffusers)
};
SigmaPlan plan_sigmas(const TrainSchedule& train, const SigmaOptions& options, int steps);

// diffusers' init_noise_sigma: the largest sigma, or sqrt(max^2 + 1) for "leading" spacing.
float sigma_init_noise(const std::vector<float>& sigmas, Spacing spacing);

// x / sqrt(sigma^2 + 1): the model's input at noise level sigma.
std::vector<float> scale_by_sigma(const std::vector<float>& sample, float sigma);

// The predicted x0 at noise level sigma (sigma_hat for epsilon), float32 as the k-diffusion
// schedulers compute it.
std::vector<float> sigma_predict_x0(Prediction prediction, const std::vector<float>& model_output,
                                    const std::vector<float>& sample, float sigma);

// Base of the sigma schedulers: the training schedule, the sigma plan (one sigma per model
// call, then 0), input scaling and the prediction type.
class SigmaScheduler : public Scheduler {
 protected:
  SigmaScheduler(const nlohmann::json& json, const char* class_name, const BetaOptions& betas, bool has_karras,
                 bool has_interpolation);

  int max_steps() const override { return train_.num_train_timesteps; }
  bool ignores_zero_snr() const override { return train_.zero_snr_ignored; }
  float init_noise_sigma() const override { return sigma_init_noise(sigmas_, options_.spacing); }

  std::vector<double> plan(int steps) override {
    SigmaPlan plan = plan_sigmas(train_, options_, steps);
    sigmas_ = plan.sigmas;
    return plan.timesteps;
  }

  std::vector<float> scale_input(const std::vector<float>& sample, size_t call) const override {
    return scale_by_sigma(sample, sigmas_[call]);
  }

  // diffusers: original + noise * sigmas[index of the timestep]; the index it finds (heun:
  // either copy of a doubled timestep) holds the sigma of this call.
  std::vector<float> noise_at(const std::vector<float>& original, const std::vector<float>& noise,
                              size_t call) const override {
    const float sigma = sigmas_[call];
    std::vector<float> out(original.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = original[i] + noise[i] * sigma;
    return out;
  }

  TrainSchedule train_;
  Prediction prediction_;
  SigmaOptions options_;
  std::vector<float> sigmas_;
};

}  // namespace sdvk
