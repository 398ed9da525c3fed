// Heun's second-order method (Karras et al., arXiv 2206.00364, algorithm 1 without churn) as
// diffusers' HeunDiscreteScheduler: each step but the last costs two model calls, an Euler
// predictor at sigma and a trapezoidal corrector at the next sigma.
#include <algorithm>

#include "core/error.h"
#include "scheduler/families.h"
#include "scheduler/sigma_schedule.h"

namespace sdvk {

namespace {

BetaOptions heun_betas() {
  BetaOptions b;
  b.default_start = 0.00085;
  b.default_end = 0.012;
  b.allow_exp = true;
  return b;
}

class Heun : public SigmaScheduler {
 public:
  explicit Heun(const nlohmann::json& json)
      : SigmaScheduler(json, "HeunDiscreteScheduler", heun_betas(), /*has_karras=*/true, /*has_interpolation=*/false) {
    ConfigReader config(json, class_name());
    limits_ = X0Limits::read(config, /*has_clip=*/true, /*clip_default=*/false, /*has_thresholding=*/false);
  }

 private:
  // Model calls alternate predictor / corrector: sigmas s0, s1, s1, s2, s2, ..., s_{n-1}, s_{n-1}, 0
  // and timesteps t0, t1, t1, ..., t_{n-1}, t_{n-1}.
  std::vector<double> plan(int steps) override {
    SigmaPlan plan = plan_sigmas(train_, options_, steps);
    sigmas_.assign(1, plan.sigmas.front());
    std::vector<double> timesteps(1, plan.timesteps.front());
    for (size_t i = 1; i < plan.timesteps.size(); ++i) {
      sigmas_.insert(sigmas_.end(), 2, plan.sigmas[i]);
      timesteps.insert(timesteps.end(), 2, plan.timesteps[i]);
    }
    sigmas_.push_back(plan.sigmas.back());
    return timesteps;
  }

  size_t pipeline_order() const override { return 2; }

  // Calls 0, 2, 4, ... are predictors. diffusers, begun at a doubled timestep, takes its second
  // copy (the predictor); beginning at a corrector has no predictor to correct.
  void restart(size_t first_call) override {
    if (first_call % 2 == 1 && first_call < timesteps().size())
      throw Error(class_name() + ": a run cannot begin at call " + std::to_string(first_call) +
                  ", a corrector; begin at an even call");
    first_derivative_.clear();
    first_sample_.clear();
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource&) override {
    const bool predictor = first_derivative_.empty();
    const float sigma = predictor ? sigmas_[call] : sigmas_[call - 1];
    const float sigma_next = predictor ? sigmas_[call + 1] : sigmas_[call];
    // The model was evaluated at sigma (predictor) or at sigma_next (corrector).
    std::vector<float> x0 = sigma_predict_x0(prediction_, model_output, sample, predictor ? sigma : sigma_next);
    limits_.apply(x0, batch_size());
    std::vector<float> prev(sample.size());
    if (predictor) {
      first_dt_ = sigma_next - sigma;
      first_derivative_.resize(sample.size());
      for (size_t i = 0; i < prev.size(); ++i) {
        first_derivative_[i] = (sample[i] - x0[i]) / sigma;
        prev[i] = sample[i] + first_derivative_[i] * first_dt_;
      }
      first_sample_ = sample;
    } else {
      for (size_t i = 0; i < prev.size(); ++i) {
        const float derivative = (sample[i] - x0[i]) / sigma_next;
        const float mean = (first_derivative_[i] + derivative) / 2.0f;
        prev[i] = first_sample_[i] + mean * first_dt_;
      }
      first_derivative_.clear();
      first_sample_.clear();
    }
    return prev;
  }

  X0Limits limits_;
  std::vector<float> first_derivative_;  // non-empty between a predictor and its corrector
  std::vector<float> first_sample_;
  float first_dt_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_heun(const nlohmann::json& config) { return std::make_unique<Heun>(config); }

}  // namespace sdvk
