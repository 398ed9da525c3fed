// Pseudo numerical methods (Liu et al., arXiv 2202.09778) as diffusers' PNDMScheduler: linear
// multistep (PLMS) on the DDIM transfer function, warmed up either with Runge-Kutta steps or,
// with skip_prk_steps (the Stable Diffusion default), with a second-order first step.
#include <cmath>
#include <deque>

#include "core/error.h"
#include "scheduler/alpha_scheduler.h"
#include "scheduler/families.h"
#include "scheduler/noise_schedule.h"
#include "scheduler/prediction.h"

namespace sdvk {

namespace {

class Pndm : public AlphaScheduler {
 public:
  explicit Pndm(const nlohmann::json& json) : AlphaScheduler(json, "PNDMScheduler", {}) {
    ConfigReader config(json, class_name());
    skip_prk_ = config.flag("skip_prk_steps", false);
    final_alpha_cumprod_ = config.flag("set_alpha_to_one", false) ? 1.0f : train_.alphas_cumprod[0];
    const std::string p = config.choice("prediction_type", "epsilon", {"epsilon", "v_prediction"});
    v_prediction_ = p == "v_prediction";
    read_spacing_options(config, "leading");
  }

 private:
  // Without skip_prk_steps the warm-up needs the last 4 steps' timesteps.
  std::vector<double> plan(int steps) override {
    if (!skip_prk_ && steps < 4)
      throw Error(class_name() + ": " + std::to_string(steps) +
                  " inference steps: the Runge-Kutta warm-up (skip_prk_steps false) needs at least 4");
    steps_ = steps;
    step_ratio_ = train_.num_train_timesteps / steps;
    std::vector<double> down =
        spaced_timesteps(spacing_, train_.num_train_timesteps, steps, steps_offset_, /*integer=*/true);
    std::vector<double> timesteps;
    if (skip_prk_) {
      // The first timestep twice: a plain step, then the same step redone with the average
      // of both model outputs.
      timesteps.push_back(down[0]);
      timesteps.insert(timesteps.end(), down.begin() + 1, down.end());
      if (down.size() > 1) timesteps.insert(timesteps.begin() + 1, down[1]);
      prk_calls_ = 0;
    } else {
      // Runge-Kutta over the first 4 timesteps, 4 calls per interval [t_k, t_k+1]:
      // t_k, t_k+1 + h, t_k+1 + h, t_k+1 with h = (T // steps) // 2, as diffusers builds
      // prk_timesteps.
      const double half = double(step_ratio_ / 2);
      for (size_t k = 0; k < 3; ++k) {
        const double next = down[k + 1];
        for (double v : {down[k], next + half, next + half, next}) timesteps.push_back(v);
      }
      prk_calls_ = 12;
      timesteps.insert(timesteps.end(), down.begin() + 3, down.end());
    }
    for (double t : timesteps)
      if (t < 0 || t > double(train_.num_train_timesteps - 1))
        throw Error(class_name() + ": " + std::to_string(steps) + " steps give timestep " + std::to_string(t) +
                    " outside the training range");
    return timesteps;
  }

  // diffusers' counter counts steps taken, so a run begun mid-schedule warms up again (plain
  // step, then the step redone with the averaged outputs; Runge-Kutta without skip_prk_steps,
  // on the first prk timesteps as diffusers indexes them).
  void restart(size_t) override {
    counter_ = 0;
    history_.clear();
    warm_sample_.clear();
    rk_sum_.clear();
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                             const NoiseSource&) override {
    std::vector<float> prev =
        counter_ < prk_calls_ ? step_prk(model_output, call, sample) : step_plms(model_output, call, sample);
    ++counter_;
    return prev;
  }

  std::vector<float> step_prk(const std::vector<float>& output, size_t call, const std::vector<float>& sample) {
    const int64_t diff_to_prev = counter_ % 2 ? 0 : step_ratio_ / 2;
    const int64_t prev_t = int64_t(timesteps()[call]) - diff_to_prev;
    const int64_t t = int64_t(timesteps()[size_t(counter_ / 4 * 4)]);
    const size_t n = sample.size();
    std::vector<float> combined = output;
    if (counter_ % 4 == 0) {  // RK4 weights 1/6, 1/3, 1/3, 1/6
      rk_sum_.assign(n, 0.0f);
      accumulate(rk_sum_, output, float(1.0 / 6));
      history_.push_back(output);
      warm_sample_ = sample;
    } else if (counter_ % 4 == 1 || counter_ % 4 == 2) {
      accumulate(rk_sum_, output, float(1.0 / 3));
    } else {
      for (size_t i = 0; i < n; ++i) combined[i] = rk_sum_[i] + float(1.0 / 6) * output[i];
      rk_sum_.assign(n, 0.0f);
    }
    return transfer(warm_sample_, t, prev_t, combined);
  }

  std::vector<float> step_plms(const std::vector<float>& output, size_t call, const std::vector<float>& sample) {
    int64_t t = int64_t(timesteps()[call]);
    int64_t prev_t = t - step_ratio_;
    if (counter_ != 1) {
      if (history_.size() > 3) history_.pop_front();
      history_.push_back(output);
    } else {  // the redone first step
      prev_t = t;
      t = t + step_ratio_;
    }
    const size_t n = sample.size();
    std::vector<float> combined(n);
    const std::vector<float>* from = &sample;
    const auto& e = history_;
    const size_t h = e.size();
    if (h == 1 && counter_ == 0) {
      combined = output;
      warm_sample_ = sample;
    } else if (h == 1 && counter_ == 1) {
      for (size_t i = 0; i < n; ++i) combined[i] = (output[i] + e[0][i]) / 2.0f;
      from = &warm_sample_;
    } else if (h == 2) {
      for (size_t i = 0; i < n; ++i) combined[i] = (3.0f * e[1][i] - e[0][i]) / 2.0f;
    } else if (h == 3) {
      for (size_t i = 0; i < n; ++i)
        combined[i] = (23.0f * e[2][i] - 16.0f * e[1][i] + 5.0f * e[0][i]) / 12.0f;
    } else {
      for (size_t i = 0; i < n; ++i)
        combined[i] = float(1.0 / 24) * (55.0f * e[3][i] - 59.0f * e[2][i] + 37.0f * e[1][i] - 9.0f * e[0][i]);
    }
    return transfer(*from, t, prev_t, combined);
  }

  static void accumulate(std::vector<float>& sum, const std::vector<float>& v, float weight) {
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = sum[i] + weight * v[i];
  }

  // The DDIM-form transfer from t to prev_t (formula 9 of the paper), float32 as diffusers.
  std::vector<float> transfer(const std::vector<float>& sample, int64_t t, int64_t prev_t,
                              const std::vector<float>& output) const {
    // The redone step looks one step_ratio above its timestep; keep that inside the table.
    if (t < 0 || t >= int64_t(train_.alphas_cumprod.size()) || prev_t >= int64_t(train_.alphas_cumprod.size()))
      throw Error(class_name() + ": a step from timestep " + std::to_string(t) + " to " + std::to_string(prev_t) +
                  " leaves the training range");
    const float alpha_t = train_.alphas_cumprod[size_t(t)];
    const float alpha_prev = prev_t >= 0 ? train_.alphas_cumprod[size_t(prev_t)] : final_alpha_cumprod_;
    const float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
    std::vector<float> eps = output;
    if (v_prediction_) {
      const float a = std::sqrt(alpha_t), b = std::sqrt(beta_t);
      for (size_t i = 0; i < eps.size(); ++i) eps[i] = a * output[i] + b * sample[i];
    }
    const float sample_coeff = std::sqrt(alpha_prev / alpha_t);
    const float denominator = alpha_t * std::sqrt(beta_prev) + std::sqrt(alpha_t * beta_t * alpha_prev);
    const float difference = alpha_prev - alpha_t;
    std::vector<float> prev(sample.size());
    for (size_t i = 0; i < prev.size(); ++i)
      prev[i] = sample_coeff * sample[i] - (difference * eps[i]) / denominator;
    return prev;
  }

  bool skip_prk_ = false;
  bool v_prediction_ = false;
  float final_alpha_cumprod_ = 1.0f;
  int steps_ = 1;
  int64_t step_ratio_ = 1;
  int prk_calls_ = 0;
  int counter_ = 0;
  std::deque<std::vector<float>> history_;  // model outputs, oldest first (diffusers' ets)
  std::vector<float> warm_sample_;          // the sample the warm-up steps start from
  std::vector<float> rk_sum_;               // the running Runge-Kutta combination
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const nlohmann::json& config) { return std::make_unique<Pndm>(config); }

}  // namespace sdvk
