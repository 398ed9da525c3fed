// DPM-Solver and DPM-Solver++ multistep (Lu et al., arXiv 2206.00927 and 2211.01095),
// including their SDE variants, as diffusers' DPMSolverMultistepScheduler. "DPM++ 2M" is
// dpmsolver++ of order 2 (the default), "DPM++ 2M Karras" the same on Karras sigmas.
#include <cmath>
#include <limits>

#include "scheduler/alpha_scheduler.h"
#include "scheduler/families.h"
#include "scheduler/multistep.h"
#include "scheduler/prediction.h"

namespace sdvk {

namespace {

// x_prev = a * sample + b0 * D0 + b1 * D1 + b2 * D2 + c * noise, summed left to right in
// float32 as diffusers writes each update (terms with a zero weight are skipped).
struct Update {
  float a = 0, b0 = 0, b1 = 0, b2 = 0, c = 0;
};

class DpmSolver : public AlphaScheduler {
 public:
  explicit DpmSolver(const nlohmann::json& json) : AlphaScheduler(json, "DPMSolverMultistepScheduler", {}) {
    ConfigReader config(json, class_name());
    tables_ = lambda_tables(train_.alphas_cumprod);
    order_ = int(config.integer("solver_order", 2, 1, 3));
    prediction_ = read_prediction(config);
    limits_ = X0Limits::read(config, /*has_clip=*/false, false, /*has_thresholding=*/true);
    std::string algorithm =
        config.choice("algorithm_type", "dpmsolver++", {"dpmsolver", "dpmsolver++", "sde-dpmsolver", "sde-dpmsolver++", "deis"});
    if (algorithm == "deis") algorithm = "dpmsolver++";  // diffusers' own fallback
    data_prediction_ = algorithm == "dpmsolver++" || algorithm == "sde-dpmsolver++";
    sde_ = algorithm.rfind("sde-", 0) == 0;
    if (sde_ && order_ == 3) config.fail("solver_order", "3 has no SDE variant (diffusers fails on it too)");
    const std::string solver =
        config.choice("solver_type", "midpoint", {"midpoint", "heun", "logrho", "bh1", "bh2"});
    heun_ = solver == "heun";  // the others fall back to midpoint, as in diffusers
    lower_order_final_ = config.flag("lower_order_final", true);
    karras_ = config.flag("use_karras_sigmas", false);
    const double lambda_min = config.number("lambda_min_clipped", -std::numeric_limits<double>::infinity(),
                                            -std::numeric_limits<double>::infinity(), 1e6);
    // "learned" variances need a model that also predicts them; Stable Diffusion does not.
    config.choice("variance_type", "none", {"none"});
    read_spacing_options(config, "linspace");
    // Where lambda (falling with t) drops below lambda_min_clipped, the plan starts earlier.
    int clipped = 0;
    for (auto it = tables_.lambda.rbegin(); it != tables_.lambda.rend() && double(*it) < lambda_min; ++it) ++clipped;
    last_timestep_ = train_.num_train_timesteps - clipped;
    if (last_timestep_ < 2) config.fail("lambda_min_clipped", "clips the whole schedule");
  }

 private:
  std::vector<double> plan(int steps) override {
    return multistep_timesteps(train_, spacing_, steps_offset_, karras_, steps, last_timestep_);
  }

  // diffusers finds the step's index from its timestep, but lower_order_nums and the stored
  // outputs count the steps taken: a run begun mid-schedule starts at first order.
  void restart(size_t) override {
    outputs_.clear();
    lower_order_nums_ = 0;
  }

  // The model output as the solver's variable: x0 (dpmsolver++) or noise (dpmsolver).
  std::vector<float> convert(const std::vector<float>& output, size_t t, const std::vector<float>& sample) const {
    const float alpha = tables_.alpha[t], sigma = tables_.sigma[t];
    const size_t n = sample.size();
    std::vector<float> x0(n), eps(n);
    if (data_prediction_ || limits_.thresholding) {
      for (size_t i = 0; i < n; ++i) {
        if (prediction_ == Prediction::Epsilon) x0[i] = (sample[i] - sigma * output[i]) / alpha;
        else if (prediction_ == Prediction::Sample) x0[i] = output[i];
        else x0[i] = alpha * sample[i] - sigma * output[i];
      }
    }
    if (data_prediction_) {
      limits_.apply(x0, batch_size());
      return x0;
    }
    for (size_t i = 0; i < n; ++i) {
      if (prediction_ == Prediction::Epsilon) eps[i] = output[i];
      else if (prediction_ == Prediction::Sample) eps[i] = (sample[i] - alpha * output[i]) / sigma;
      else eps[i] = alpha * output[i] + sigma * sample[i];
    }
    if (limits_.thresholding) {  // threshold the implied x0, then return to noise
      for (size_t i = 0; i < n; ++i) x0[i] = (sample[i] - sigma * eps[i]) / alpha;
      limits_.apply(x0, batch_size());
      for (size_t i = 0; i < n; ++i) eps[i] = (sample[i] - alpha * x0[i]) / sigma;
    }
    return eps;
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource& noise_source) override {
    const auto& ts = timesteps();
    const size_t count = ts.size();
    const bool last = call + 1 == count;
    const size_t t = size_t(ts[call]);
    const size_t prev_t = last ? 0 : size_t(ts[call + 1]);
    const bool lower_final = last && lower_order_final_ && count < 15;
    const bool lower_second = call + 2 == count && lower_order_final_ && count < 15;

    outputs_.push_back(convert(model_output, t, sample));
    if (outputs_.size() > size_t(order_)) outputs_.erase(outputs_.begin());
    std::vector<float> noise;
    if (sde_) noise = draw_noise(noise_source, sample.size());

    const size_t n = sample.size();
    const auto& m0 = outputs_.back();
    std::vector<float> d1, d2;
    Update u;
    if (order_ == 1 || lower_order_nums_ < 1 || lower_final) {
      u = first_order(t, prev_t);
    } else if (order_ == 2 || lower_order_nums_ < 2 || lower_second) {
      const size_t s1 = size_t(ts[call - 1]);
      const float h = tables_.lambda[prev_t] - tables_.lambda[t];
      const float r0 = (tables_.lambda[t] - tables_.lambda[s1]) / h;
      const auto& m1 = outputs_[outputs_.size() - 2];
      d1.resize(n);
      const float inv_r0 = 1.0f / r0;
      for (size_t i = 0; i < n; ++i) d1[i] = inv_r0 * (m0[i] - m1[i]);
      u = second_order(t, prev_t, h);
    } else {
      const size_t s1 = size_t(ts[call - 1]), s2 = size_t(ts[call - 2]);
      const auto& L = tables_.lambda;
      const float h = L[prev_t] - L[t], h0 = L[t] - L[s1], h1 = L[s1] - L[s2];
      const float r0 = h0 / h, r1 = h1 / h;
      const auto& m1 = outputs_[outputs_.size() - 2];
      const auto& m2 = outputs_[outputs_.size() - 3];
      d1.resize(n);
      d2.resize(n);
      const float inv_r0 = 1.0f / r0, inv_r1 = 1.0f / r1, mix = r0 / (r0 + r1), inv_sum = 1.0f / (r0 + r1);
      for (size_t i = 0; i < n; ++i) {
        const float d1_0 = inv_r0 * (m0[i] - m1[i]), d1_1 = inv_r1 * (m1[i] - m2[i]);
        d1[i] = d1_0 + mix * (d1_0 - d1_1);
        d2[i] = inv_sum * (d1_0 - d1_1);
      }
      u = third_order(t, prev_t, h);
    }
    if (lower_order_nums_ < order_) ++lower_order_nums_;

    std::vector<float> prev(n);
    for (size_t i = 0; i < n; ++i) {
      float x = u.a * sample[i] + u.b0 * m0[i];
      if (!d1.empty()) x = x + u.b1 * d1[i];
      if (!d2.empty()) x = x + u.b2 * d2[i];
      if (sde_) x = x + u.c * noise[i];
      prev[i] = x;
    }
    return prev;
  }

  Update first_order(size_t s, size_t t) const {
    const float h = tables_.lambda[t] - tables_.lambda[s];
    const float alpha_t = tables_.alpha[t], sigma_t = tables_.sigma[t];
    const float alpha_s = tables_.alpha[s], sigma_s = tables_.sigma[s];
    Update u;
    if (data_prediction_ && !sde_) {
      u.a = sigma_t / sigma_s;
      u.b0 = -(alpha_t * (std::exp(-h) - 1.0f));
    } else if (!data_prediction_ && !sde_) {
      u.a = alpha_t / alpha_s;
      u.b0 = -(sigma_t * (std::exp(h) - 1.0f));
    } else if (data_prediction_) {
      u.a = sigma_t / sigma_s * std::exp(-h);
      u.b0 = alpha_t * (1.0f - std::exp(-2.0f * h));
      u.c = sigma_t * std::sqrt(1.0f - std::exp(-2.0f * h));
    } else {
      u.a = alpha_t / alpha_s;
      u.b0 = -(2.0f * (sigma_t * (std::exp(h) - 1.0f)));
      u.c = sigma_t * std::sqrt(std::exp(2.0f * h) - 1.0f);
    }
    return u;
  }

  // First-order weights for D0 plus the D1 weight of the midpoint or Heun variant.
  Update second_order(size_t s0, size_t t, float h) const {
    Update u = first_order(s0, t);
    const float alpha_t = tables_.alpha[t], sigma_t = tables_.sigma[t];
    if (data_prediction_ && !sde_) {
      const float c = alpha_t * (std::exp(-h) - 1.0f);
      u.b1 = heun_ ? alpha_t * ((std::exp(-h) - 1.0f) / h + 1.0f) : -(0.5f * c);
    } else if (!data_prediction_ && !sde_) {
      const float c = sigma_t * (std::exp(h) - 1.0f);
      u.b1 = heun_ ? -(sigma_t * ((std::exp(h) - 1.0f) / h - 1.0f)) : -(0.5f * c);
    } else if (data_prediction_) {
      const float c = alpha_t * (1.0f - std::exp(-2.0f * h));
      u.b1 = heun_ ? alpha_t * ((1.0f - std::exp(-2.0f * h)) / (-2.0f * h) + 1.0f) : 0.5f * c;
    } else {
      const float c = sigma_t * (std::exp(h) - 1.0f);
      u.b1 = heun_ ? -(2.0f * (sigma_t * ((std::exp(h) - 1.0f) / h - 1.0f))) : -c;
    }
    return u;
  }

  Update third_order(size_t s0, size_t t, float h) const {
    Update u = first_order(s0, t);
    const float alpha_t = tables_.alpha[t], sigma_t = tables_.sigma[t];
    if (data_prediction_) {
      u.b1 = alpha_t * ((std::exp(-h) - 1.0f) / h + 1.0f);
      u.b2 = -(alpha_t * ((std::exp(-h) - 1.0f + h) / (h * h) - 0.5f));
    } else {
      u.b1 = -(sigma_t * ((std::exp(h) - 1.0f) / h - 1.0f));
      u.b2 = -(sigma_t * ((std::exp(h) - 1.0f - h) / (h * h) - 0.5f));
    }
    return u;
  }

  LambdaTables tables_;
  int order_ = 2;
  Prediction prediction_;
  X0Limits limits_;
  bool data_prediction_ = true, sde_ = false, heun_ = false, lower_order_final_ = true, karras_ = false;
  int last_timestep_ = 0;
  std::vector<std::vector<float>> outputs_;  // converted model outputs, oldest first
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_solver(const nlohmann::json& config) {
  return std::make_unique<DpmSolver>(config);
}

}  // namespace sdvk
