#include "scheduler/sigma_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdvk {

SigmaOptions read_sigma_options(const ConfigReader& config, int num_train_timesteps, bool has_karras,
                                bool has_interpolation) {
  SigmaOptions o;
  o.spacing = read_spacing(config, "linspace");
  o.steps_offset = config.integer("steps_offset", 0, 0, num_train_timesteps - 1);
  if (has_karras) o.karras = config.flag("use_karras_sigmas", false);
  if (has_interpolation)
    o.log_linear = config.choice("interpolation_type", "linear", {"linear", "log_linear"}) == "log_linear";
  return o;
}

SigmaPlan plan_sigmas(const TrainSchedule& train, const SigmaOptions& options, int steps) {
  SigmaPlan plan;
  plan.timesteps = spaced_timesteps(options.spacing, train.num_train_timesteps, steps, options.steps_offset,
                                    /*integer=*/false);
  const std::vector<float> table = train_sigmas(train.alphas_cumprod);
  std::vector<double> sigmas;
  if (options.log_linear) {
    // torch.linspace(log(sigma_max), log(sigma_min), steps + 1).exp() in float32.
    const double hi = std::log(table.back()), lo = std::log(table.front());
    const float step = (float(lo) - float(hi)) / float(steps);
    for (int i = 0; i <= steps; ++i) {
      const float v = i < (steps + 1) / 2 ? float(hi) + step * float(i) : float(lo) - step * float(steps - i);
      sigmas.push_back(std::exp(v));
    }
  } else {
    for (double t : plan.timesteps) sigmas.push_back(np_interp(t, table));
  }
  if (options.karras) {
    sigmas = karras_sigmas(sigmas.front(), sigmas.back(), steps);
    const std::vector<float> log_table = log_of(table);
    plan.timesteps.clear();
    for (double s : sigmas) plan.timesteps.push_back(sigma_to_t(s, log_table));
  }
  for (double s : sigmas) plan.sigmas.push_back(float(s));
  plan.sigmas.push_back(0.0f);
  for (size_t i = 0; i < plan.timesteps.size(); ++i)
    if (!std::isfinite(plan.timesteps[i]) || !std::isfinite(plan.sigmas[i]) || !(plan.sigmas[i] > 0))
      throw Error("scheduler: the noise schedule gives sigma " + std::to_string(plan.sigmas[i]) + " at timestep " +
                  std::to_string(plan.timesteps[i]) + " (check beta_start, beta_end, trained_betas)");
  return plan;
}

float sigma_init_noise(const std::vector<float>& sigmas, Spacing spacing) {
  const float max = *std::max_element(sigmas.begin(), sigmas.end());
  if (spacing == Spacing::Leading) return std::sqrt(max * max + 1.0f);
  return max;
}

std::vector<float> scale_by_sigma(const std::vector<float>& sample, float sigma) {
  const float divisor = std::sqrt(sigma * sigma + 1.0f);
  std::vector<float> out(sample.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = sample[i] / divisor;
  return out;
}

std::vector<float> sigma_predict_x0(Prediction prediction, const std::vector<float>& model_output,
                                    const std::vector<float>& sample, float sigma) {
  std::vector<float> x0(sample.size());
  if (prediction == Prediction::Epsilon) {
    for (size_t i = 0; i < x0.size(); ++i) x0[i] = sample[i] - sigma * model_output[i];
  } else if (prediction == Prediction::Velocity) {
    const float variance = sigma * sigma + 1.0f;
    const float output_coeff = -sigma / std::sqrt(variance);
    for (size_t i = 0; i < x0.size(); ++i) x0[i] = model_output[i] * output_coeff + sample[i] / variance;
  } else {
    x0 = model_output;
  }
  return x0;
}

SigmaScheduler::SigmaScheduler(const nlohmann::json& json, const char* class_name, const BetaOptions& betas,
                               bool has_karras, bool has_interpolation)
    : Scheduler(class_name) {
  ConfigReader config(json, class_name);
  train_ = read_train_schedule(config, betas);
  prediction_ = read_prediction(config);
  options_ = read_sigma_options(config, train_.num_train_timesteps, has_karras, has_interpolation);
  sigmas_ = train_sigmas(train_.alphas_cumprod);  // what init_noise_sigma sees before set_timesteps
}

}  // namespace sdvk
