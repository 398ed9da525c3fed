// Linear multistep (k-diffusion's sample_lms) as diffusers' LMSDiscreteScheduler: the next
// latent integrates the Lagrange polynomial through the last (up to 4) derivatives over
// [sigma_i, sigma_{i+1}].
#include <algorithm>
#include <deque>

#include "scheduler/families.h"
#include "scheduler/sigma_schedule.h"

namespace sdvk {

namespace {

constexpr int kMaxOrder = 4;

// Integral over [a, b] of a polynomial of degree < 8, exactly (up to rounding): 4-point
// Gauss-Legendre. The integrands here have degree order - 1 <= 3. (diffusers calls
// scipy.integrate.quad, whose 21-point Gauss-Kronrod rule is just as exact on them.)
template <typename F>
double integrate_polynomial(F f, double a, double b) {
  static const double kNodes[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
  static const double kWeights[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};
  const double half = (b - a) / 2, mid = (a + b) / 2;
  double sum = 0;
  for (int k = 0; k < 4; ++k) sum += kWeights[k] * f(mid + half * kNodes[k]);
  return sum * half;
}

class Lms : public SigmaScheduler {
 public:
  explicit Lms(const nlohmann::json& json)
      : SigmaScheduler(json, "LMSDiscreteScheduler", BetaOptions(), /*has_karras=*/true, /*has_interpolation=*/false) {}

 private:
  void restart(size_t) override { derivatives_.clear(); }

  // Weight of the derivative taken `back` steps ago in a step of order `order` from sigma_i.
  double coefficient(int order, size_t i, int back) const {
    auto lagrange_basis = [&](double tau) {
      double product = 1.0;
      for (int k = 0; k < order; ++k) {
        if (k == back) continue;
        product *= (tau - sigmas_[i - size_t(k)]) / (double(sigmas_[i - size_t(back)]) - sigmas_[i - size_t(k)]);
      }
      return product;
    };
    return integrate_polynomial(lagrange_basis, sigmas_[i], sigmas_[i + 1]);
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource&) override {
    const float sigma = sigmas_[call];
    const std::vector<float> x0 = sigma_predict_x0(prediction_, model_output, sample, sigma);
    std::vector<float> derivative(sample.size());
    for (size_t k = 0; k < derivative.size(); ++k) derivative[k] = (sample[k] - x0[k]) / sigma;
    derivatives_.push_front(std::move(derivative));  // newest first
    if (derivatives_.size() > size_t(kMaxOrder)) derivatives_.pop_back();

    // The order comes from the step's index, the terms from the derivatives kept: in a run
    // begun mid-schedule diffusers zips order-`order` coefficients with fewer derivatives and
    // drops the coefficients left over (a full run always has `order` of them).
    const int order = int(std::min<size_t>(call + 1, kMaxOrder));
    const int terms = std::min(order, int(derivatives_.size()));
    std::vector<float> sum(sample.size(), 0.0f);
    for (int back = 0; back < terms; ++back) {
      const float c = float(coefficient(order, call, back));
      const auto& d = derivatives_[size_t(back)];
      for (size_t k = 0; k < sum.size(); ++k) sum[k] = back == 0 ? c * d[k] : sum[k] + c * d[k];
    }
    std::vector<float> prev(sample.size());
    for (size_t k = 0; k < prev.size(); ++k) prev[k] = sample[k] + sum[k];
    return prev;
  }

  std::deque<std::vector<float>> derivatives_;
};

}  // namespace

std::unique_ptr<Scheduler> make_lms(const nlohmann::json& config) { return std::make_unique<Lms>(config); }

}  // namespace sdvk
