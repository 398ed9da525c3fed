// UniPC (Zhao et al., arXiv 2302.04867) as diffusers' UniPCMultistepScheduler: a multistep
// predictor (UniP) and, from the second step on, a corrector (UniC) that reuses the new model
// output, in the B(h) = e^h - 1 (bh2) or B(h) = h (bh1) variant.
#include <algorithm>
#include <cmath>
#include <set>

#include "scheduler/alpha_scheduler.h"
#include "scheduler/families.h"
#include "scheduler/multistep.h"
#include "scheduler/prediction.h"

namespace sdvk {

namespace {

constexpr int kMaxOrder = 3;

// Solves the k x k system R rho = b (k <= kMaxOrder) by Gaussian elimination with partial
// pivoting in double (diffusers: torch.linalg.solve in float32).
std::vector<float> solve(std::vector<std::vector<double>> R, std::vector<double> b) {
  const size_t k = b.size();
  for (size_t col = 0; col < k; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < k; ++r)
      if (std::fabs(R[r][col]) > std::fabs(R[pivot][col])) pivot = r;
    std::swap(R[col], R[pivot]);
    std::swap(b[col], b[pivot]);
    for (size_t r = col + 1; r < k; ++r) {
      const double f = R[r][col] / R[col][col];
      for (size_t c = col; c < k; ++c) R[r][c] -= f * R[col][c];
      b[r] -= f * b[col];
    }
  }
  std::vector<float> x(k);
  for (size_t r = k; r-- > 0;) {
    double v = b[r];
    for (size_t c = r + 1; c < k; ++c) v -= R[r][c] * double(x[c]);
    x[r] = float(v / R[r][r]);
  }
  return x;
}

class UniPc : public AlphaScheduler {
 public:
  explicit UniPc(const nlohmann::json& json) : AlphaScheduler(json, "UniPCMultistepScheduler", {}) {
    ConfigReader config(json, class_name());
    tables_ = lambda_tables(train_.alphas_cumprod);
    order_ = int(config.integer("solver_order", 2, 1, kMaxOrder));
    prediction_ = read_prediction(config);
    limits_ = X0Limits::read(config, /*has_clip=*/false, false, /*has_thresholding=*/true);
    predict_x0_ = config.flag("predict_x0", true);
    // midpoint, heun and logrho are DPM-Solver names that diffusers maps to bh2.
    bh1_ = config.choice("solver_type", "bh2", {"bh1", "bh2", "midpoint", "heun", "logrho"}) == "bh1";
    lower_order_final_ = config.flag("lower_order_final", true);
    for (int64_t step : config.integers("disable_corrector", size_t(kMaxTrainTimesteps))) disabled_.insert(step);
    karras_ = config.flag("use_karras_sigmas", false);
    read_spacing_options(config, "linspace");
  }

 private:
  std::vector<double> plan(int steps) override {
    return multistep_timesteps(train_, spacing_, steps_offset_, karras_, steps, train_.num_train_timesteps);
  }

  // As in diffusers, a run begun mid-schedule has no history: no corrector on its first step
  // (no last sample) and its predictor warms up from first order.
  void restart(size_t) override {
    outputs_.clear();
    output_timesteps_.clear();
    lower_order_nums_ = 0;
    this_order_ = 1;
    last_sample_.clear();
  }

  std::vector<float> convert(const std::vector<float>& output, size_t t, const std::vector<float>& sample) const {
    const float alpha = tables_.alpha[t], sigma = tables_.sigma[t];
    std::vector<float> out(sample.size());
    for (size_t i = 0; i < out.size(); ++i) {
      if (predict_x0_) {
        if (prediction_ == Prediction::Epsilon) out[i] = (sample[i] - sigma * output[i]) / alpha;
        else if (prediction_ == Prediction::Sample) out[i] = output[i];
        else out[i] = alpha * sample[i] - sigma * output[i];
      } else {
        if (prediction_ == Prediction::Epsilon) out[i] = output[i];
        else if (prediction_ == Prediction::Sample) out[i] = (sample[i] - alpha * output[i]) / sigma;
        else out[i] = alpha * output[i] + sigma * sample[i];
      }
    }
    if (predict_x0_) limits_.apply(out, batch_size());
    return out;
  }

  // The shared part of UniP and UniC from timestep s0 (the newest stored output) to t:
  // the base update, the weight B(h) and the solved rho coefficients.
  struct Bh {
    std::vector<float> base;                // sigma_t / sigma_s0 * x - alpha_t * h_phi_1 * m0 (or the eps form)
    float weight = 0;                       // alpha_t * B(h) (or sigma_t * B(h))
    std::vector<std::vector<float>> d1s;    // (m_i - m0) / r_i for the older outputs
    std::vector<float> rhos;                // predictor: for d1s; corrector: for d1s then D1_t
  };

  Bh bh_update(size_t s0, size_t t, const std::vector<float>& x, int order, bool corrector) const {
    const auto& L = tables_.lambda;
    const float h = L[t] - L[s0];
    const auto& m0 = outputs_.back();
    Bh r;
    std::vector<float> rks;
    for (int i = 1; i < order; ++i) {
      const size_t si = size_t(output_timesteps_[output_timesteps_.size() - 1 - size_t(i)]);
      const auto& mi = outputs_[outputs_.size() - 1 - size_t(i)];
      const float rk = (L[si] - L[s0]) / h;
      rks.push_back(rk);
      std::vector<float> d(x.size());
      for (size_t k = 0; k < d.size(); ++k) d[k] = (mi[k] - m0[k]) / rk;
      r.d1s.push_back(std::move(d));
    }
    rks.push_back(1.0f);
    const float hh = predict_x0_ ? -h : h;
    const float h_phi_1 = std::expm1(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    const float b_h = bh1_ ? hh : std::expm1(hh);
    std::vector<std::vector<double>> R;
    std::vector<double> b;
    int factorial = 1;
    for (int i = 1; i <= order; ++i) {
      std::vector<double> row;  // rks ** (i - 1), i <= kMaxOrder
      for (float rk : rks) row.push_back(i == 1 ? 1.0 : i == 2 ? double(rk) : double(rk * rk));
      R.push_back(row);
      b.push_back(double(h_phi_k * float(factorial) / b_h));
      factorial *= i + 1;
      h_phi_k = h_phi_k / hh - float(1.0 / factorial);
    }
    if (corrector) {
      r.rhos = order == 1 ? std::vector<float>{0.5f} : solve(R, b);
    } else if (order == 2) {
      r.rhos = {0.5f};
    } else if (order > 2) {
      R.pop_back();
      for (auto& row : R) row.pop_back();
      b.pop_back();
      r.rhos = solve(R, b);
    }
    const float alpha_t = tables_.alpha[t], sigma_t = tables_.sigma[t];
    const float x_coeff = predict_x0_ ? sigma_t / tables_.sigma[s0] : alpha_t / tables_.alpha[s0];
    const float m_coeff = (predict_x0_ ? alpha_t : sigma_t) * h_phi_1;
    r.weight = (predict_x0_ ? alpha_t : sigma_t) * b_h;
    r.base.resize(x.size());
    for (size_t k = 0; k < x.size(); ++k) r.base[k] = x_coeff * x[k] - m_coeff * m0[k];
    return r;
  }

  // sum_k rhos[k] * d1s[k] at one element (d1s not empty).
  static float mix(const Bh& r, size_t element) {
    float sum = r.rhos[0] * r.d1s[0][element];
    for (size_t k = 1; k < r.d1s.size(); ++k) sum = sum + r.rhos[k] * r.d1s[k][element];
    return sum;
  }

  std::vector<float> advance(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample_in,
                             const NoiseSource&) override {
    const auto& ts = timesteps();
    const size_t t = size_t(ts[call]);
    std::vector<float> sample = sample_in;
    const std::vector<float> converted = convert(model_output, t, sample);
    const bool use_corrector = call > 0 && !disabled_.count(int64_t(call) - 1) && !last_sample_.empty();
    if (use_corrector) {  // UniC: refine the sample the last prediction made, using this output
      const size_t s0 = size_t(output_timesteps_.back());
      Bh r = bh_update(s0, t, last_sample_, this_order_, /*corrector=*/true);
      const auto& m0 = outputs_.back();
      const float rho_t = r.rhos.back();
      for (size_t k = 0; k < sample.size(); ++k) {
        const float d1_t = converted[k] - m0[k];
        const float correction = r.d1s.empty() ? rho_t * d1_t : mix(r, k) + rho_t * d1_t;
        sample[k] = r.base[k] - r.weight * correction;
      }
    }
    const size_t prev_t = call + 1 == ts.size() ? 0 : size_t(ts[call + 1]);
    outputs_.push_back(converted);
    output_timesteps_.push_back(double(t));
    if (outputs_.size() > size_t(order_)) {
      outputs_.erase(outputs_.begin());
      output_timesteps_.erase(output_timesteps_.begin());
    }
    int order = lower_order_final_ ? std::min(order_, int(ts.size() - call)) : order_;
    this_order_ = std::min(order, lower_order_nums_ + 1);
    last_sample_ = sample;

    // UniP: predict the next sample.
    Bh r = bh_update(t, prev_t, sample, this_order_, /*corrector=*/false);
    std::vector<float> prev(sample.size());
    for (size_t k = 0; k < prev.size(); ++k)
      prev[k] = r.d1s.empty() ? r.base[k] : r.base[k] - r.weight * mix(r, k);
    if (lower_order_nums_ < order_) ++lower_order_nums_;
    return prev;
  }

  LambdaTables tables_;
  int order_ = 2;
  Prediction prediction_;
  X0Limits limits_;
  bool predict_x0_ = true, bh1_ = false, lower_order_final_ = true, karras_ = false;
  std::set<int64_t> disabled_;  // steps whose corrector is skipped (disable_corrector)
  std::vector<std::vector<float>> outputs_;  // converted model outputs, oldest first
  std::vector<double> output_timesteps_;     // their timesteps
  int lower_order_nums_ = 0;
  int this_order_ = 1;
  std::vector<float> last_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_unipc(const nlohmann::json& config) { return std::make_unique<UniPc>(config); }

}  // namespace sdvk
