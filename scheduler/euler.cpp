// Euler and Euler ancestral (Karras et al., arXiv 2206.00364, algorithm 2 without churn; and
// k-diffusion's sample_euler_ancestral) as diffusers' EulerDiscreteScheduler and
// EulerAncestralDiscreteScheduler.
#include <algorithm>
#include <cmath>

#include "scheduler/families.h"
#include "scheduler/sigma_schedule.h"

namespace sdvk {

namespace {

class Euler : public SigmaScheduler {
 public:
  explicit Euler(const nlohmann::json& json) : SigmaScheduler(json, "EulerDiscreteScheduler", BetaOptions(), true, true) {}

 private:
  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource& noise) override {
    // diffusers draws churn noise on every step even with s_churn = 0, where it is unused;
    // drawing it too keeps a shared generator in step with diffusers.
    if (noise) draw_noise(noise, sample.size());
    const float sigma = sigmas_[call], sigma_next = sigmas_[call + 1];
    const std::vector<float> x0 = sigma_predict_x0(prediction_, model_output, sample, sigma);
    const float dt = sigma_next - sigma;
    std::vector<float> prev(sample.size());
    for (size_t i = 0; i < prev.size(); ++i) {
      const float derivative = (sample[i] - x0[i]) / sigma;
      prev[i] = sample[i] + derivative * dt;
    }
    return prev;
  }
};

class EulerAncestral : public SigmaScheduler {
 public:
  explicit EulerAncestral(const nlohmann::json& json)
      : SigmaScheduler(json, "EulerAncestralDiscreteScheduler", BetaOptions(), false, false) {}

 private:
  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource& noise) override {
    const float sigma = sigmas_[call], sigma_to = sigmas_[call + 1];
    // (prediction_type "sample", which diffusers rejects here, works as in the other schedulers.)
    const std::vector<float> x0 = sigma_predict_x0(prediction_, model_output, sample, sigma);
    // Step deterministically down to sigma_down, then add fresh noise of sigma_up, so the
    // total noise level is sigma_to.
    const float to2 = sigma_to * sigma_to, from2 = sigma * sigma;
    const float sigma_up = std::sqrt(to2 * (from2 - to2) / from2);
    const float sigma_down = std::sqrt(to2 - sigma_up * sigma_up);
    const float dt = sigma_down - sigma;
    const std::vector<float> z = draw_noise(noise, sample.size());
    std::vector<float> prev(sample.size());
    for (size_t i = 0; i < prev.size(); ++i) {
      const float derivative = (sample[i] - x0[i]) / sigma;
      prev[i] = (sample[i] + derivative * dt) + z[i] * sigma_up;
    }
    return prev;
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const nlohmann::json& config) { return std::make_unique<Euler>(config); }
std::unique_ptr<Scheduler> make_euler_ancestral(const nlohmann::json& config) {
  return std::make_unique<EulerAncestral>(config);
}

}  // namespace sdvk
