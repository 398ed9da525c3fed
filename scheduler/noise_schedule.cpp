#include "scheduler/noise_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdvk {

namespace {

constexpr double kPi = 3.14159265358979323846;

// torch.linspace(start, end, steps, dtype=float32) as the CPU kernel of the PyTorch 2.0/2.1
// x86 builds computes it (the goldens come from one; later releases dropped the vector path,
// which moves some betas by an ulp). A float32 step; the first half counted up from start, the
// second half down from end; in vectors of 8 (AVX2), two per loop round, whose first lane is
// computed from the index and the others from that lane, the rest one by one. GCC fuses each
// a + b * c there into one rounding (FMA), reproduced with std::fma.
std::vector<float> torch_linspace_f32(double start_in, double end_in, int steps) {
  const float start = float(start_in), end = float(end_in);
  std::vector<float> out(static_cast<size_t>(steps));
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / float(steps - 1);
  const int halfway = steps / 2;
  auto at_index = [&](int i) {
    return i < halfway ? std::fma(step, float(i), start) : std::fma(-step, float(steps - i - 1), end);
  };
  int i = 0;
  for (; i + 16 <= steps; i += 16) {
    for (int v = i; v < i + 16; v += 8) {
      const float lane0 = at_index(v);
      for (int k = 0; k < 8; ++k) out[size_t(v + k)] = std::fma(float(k), step, lane0);
    }
  }
  for (; i < steps; ++i) out[size_t(i)] = at_index(i);
  return out;
}

// diffusers' betas_for_alpha_bar: betas that discretise a continuous alpha_bar(t), t in [0, 1].
template <typename AlphaBar>
std::vector<float> betas_for_alpha_bar(int n, AlphaBar alpha_bar) {
  std::vector<float> betas(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double t1 = double(i) / n, t2 = double(i + 1) / n;
    betas[size_t(i)] = float(std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), 0.999));
  }
  return betas;
}

std::vector<float> cumprod(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  double running = 1.0;  // torch.cumprod on the CPU accumulates in double
  for (size_t i = 0; i < values.size(); ++i) {
    running *= double(values[i]);
    out[i] = float(running);
  }
  return out;
}

std::vector<float> one_minus(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = 1.0f - values[i];
  return out;
}

// "Common Diffusion Noise Schedules and Sample Steps are Flawed" (arXiv 2305.08891), algorithm 1:
// shift and scale sqrt(alpha_bar) so the last timestep has zero signal. float32, as diffusers.
std::vector<float> rescale_zero_terminal_snr(const std::vector<float>& betas) {
  std::vector<float> sqrt_bar = cumprod(one_minus(betas));
  for (auto& v : sqrt_bar) v = std::sqrt(v);
  const float first = sqrt_bar.front(), last = sqrt_bar.back();
  const float scale = first / (first - last);
  std::vector<float> bar(sqrt_bar.size());
  for (size_t i = 0; i < bar.size(); ++i) {
    const float shifted = (sqrt_bar[i] - last) * scale;
    bar[i] = shifted * shifted;
  }
  std::vector<float> alphas(bar.size());
  alphas[0] = bar[0];
  for (size_t i = 1; i < bar.size(); ++i) alphas[i] = bar[i] / bar[i - 1];
  return one_minus(alphas);
}

}  // namespace

TrainSchedule read_train_schedule(const ConfigReader& config, const BetaOptions& options) {
  TrainSchedule s;
  s.num_train_timesteps = int(config.integer("num_train_timesteps", 1000, 2, kMaxTrainTimesteps));
  const int n = s.num_train_timesteps;
  const double start = config.number("beta_start", options.default_start, 0.0, 1.0);
  const double end = config.number("beta_end", options.default_end, 0.0, 1.0);
  // Noise must grow over training time; a falling schedule is a typo, not a model.
  if (end < start) config.fail("beta_end", std::to_string(end) + " is below beta_start " + std::to_string(start));
  const std::vector<double> trained = config.numbers("trained_betas", size_t(kMaxTrainTimesteps));
  if (!trained.empty()) {
    if (trained.size() != size_t(n))
      config.fail("trained_betas", std::to_string(trained.size()) + " values for num_train_timesteps " +
                                       std::to_string(n));
    for (double b : trained) s.betas.push_back(float(b));
  } else {
    const char* key = "beta_schedule";
    const std::string& fallback = options.default_schedule;
    const std::string schedule =
        options.allow_exp       ? config.choice(key, fallback, {"linear", "scaled_linear", "squaredcos_cap_v2", "exp"})
        : options.allow_sigmoid ? config.choice(key, fallback, {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"})
                                : config.choice(key, fallback, {"linear", "scaled_linear", "squaredcos_cap_v2"});
    if (schedule == "linear") {
      s.betas = torch_linspace_f32(start, end, n);
    } else if (schedule == "scaled_linear") {
      s.betas = torch_linspace_f32(std::sqrt(start), std::sqrt(end), n);
      for (auto& b : s.betas) b = b * b;
    } else if (schedule == "squaredcos_cap_v2") {
      s.betas = betas_for_alpha_bar(n, [](double t) {
        const double c = std::cos((t + 0.008) / 1.008 * kPi / 2);
        return c * c;
      });
    } else if (schedule == "exp") {
      s.betas = betas_for_alpha_bar(n, [](double t) { return std::exp(t * -12.0); });
    } else {  // sigmoid
      s.betas = torch_linspace_f32(-6.0, 6.0, n);
      const float range = float(end - start), offset = float(start);
      for (auto& b : s.betas) b = (1.0f / (1.0f + std::exp(-b))) * range + offset;
    }
  }
  // Only given betas can leave [0, 1]: the schedules stay inside for beta_start, beta_end in it.
  for (float b : s.betas)
    if (!(b >= 0.0f && b <= 1.0f)) config.fail("trained_betas", "a beta of " + std::to_string(b) + " is outside [0, 1]");
  if (config.flag("rescale_betas_zero_snr", false)) {
    if (options.allow_zero_snr)
      s.betas = rescale_zero_terminal_snr(s.betas);
    else
      s.zero_snr_ignored = true;
  }
  s.alphas_cumprod = cumprod(one_minus(s.betas));
  return s;
}

std::vector<float> add_noise_by_alpha(const std::vector<float>& alphas_cumprod, double timestep,
                                      const std::vector<float>& original, const std::vector<float>& noise) {
  // The planners only make integer timesteps inside the table; anything else is a caller bug.
  if (!(timestep >= 0 && timestep < double(alphas_cumprod.size()) && timestep == std::floor(timestep)))
    throw Error("add_noise: timestep " + std::to_string(timestep) + " is not a training timestep");
  const float a = alphas_cumprod[size_t(timestep)];
  // torch: alphas_cumprod[t] ** 0.5 (a square root on the CPU), (1 - alphas_cumprod[t]) ** 0.5.
  const float keep = std::sqrt(a), add = std::sqrt(1.0f - a);
  std::vector<float> out(original.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const float kept = keep * original[i], added = add * noise[i];
    out[i] = kept + added;
  }
  return out;
}

std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod) {
  std::vector<float> out(alphas_cumprod.size());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = std::sqrt((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
  return out;
}

std::vector<float> log_of(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::log(values[i]);
  return out;
}

std::vector<double> np_arange(double start, double stop, double step) {
  const double length = std::ceil((stop - start) / step);
  // Callers pass spans of at most kMaxTrainTimesteps steps; anything else is a caller bug.
  if (!(length >= 0 && length <= 2.0 * kMaxTrainTimesteps)) return {};
  std::vector<double> out(static_cast<size_t>(length));
  if (out.empty()) return out;
  const double delta = (start + step) - start;
  for (size_t i = 0; i < out.size(); ++i) out[i] = i == 1 ? start + step : start + double(i) * delta;
  return out;
}

std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> out(size_t(std::max(num, 0)));
  if (num == 1) out[0] = start;
  if (num <= 1) return out;
  const double step = (stop - start) / double(num - 1);
  for (int i = 0; i < num; ++i) out[size_t(i)] = double(i) * step + start;
  out.back() = stop;
  return out;
}

double np_round(double x) { return std::nearbyint(x); }

double np_interp(double x, const std::vector<float>& fp) {
  const size_t n = fp.size();
  if (!(x > 0)) return fp.front();  // also NaN-safe
  if (x >= double(n - 1)) return fp.back();
  const size_t j = size_t(x);
  if (double(j) == x) return fp[j];
  const double slope = double(fp[j + 1]) - double(fp[j]);  // the table's x step is 1
  return slope * (x - double(j)) + double(fp[j]);
}

std::vector<double> karras_sigmas(double first_in, double last_in, int num) {
  const double rho = 7.0;
  const double sigma_min = last_in, sigma_max = first_in;
  const double min_inv_rho = std::pow(sigma_min, 1.0 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1.0 / rho);
  std::vector<double> ramp = np_linspace(0.0, 1.0, num);
  std::vector<double> out(ramp.size());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(sigma);
  // Last index whose log-sigma is <= log(sigma) (numpy: cumsum(dists >= 0).argmax()), else 0.
  size_t low = 0, count = 0, best = 0;
  for (size_t k = 0; k < log_sigmas.size(); ++k) {
    if (log_sigma - double(log_sigmas[k]) >= 0) ++count;
    if (count > best) {
      best = count;
      low = k;
    }
  }
  low = std::min(low, log_sigmas.size() - 2);
  const double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  double w = (lo - log_sigma) / (lo - hi);
  w = std::clamp(w, 0.0, 1.0);  // NaN stays NaN; callers check
  return (1.0 - w) * double(low) + w * double(low + 1);
}

void dynamic_threshold(std::vector<float>& x0, size_t batch, double ratio, double max_value) {
  const size_t per_image = x0.size() / batch;
  const float rank = float(ratio) * float(per_image - 1);
  const size_t below = size_t(rank);
  const size_t above = std::min(size_t(std::ceil(rank)), per_image - 1);
  const float weight = rank - float(below);
  std::vector<float> sorted(per_image);
  for (size_t b = 0; b < batch; ++b) {
    float* image = x0.data() + b * per_image;
    for (size_t i = 0; i < per_image; ++i) sorted[i] = std::fabs(image[i]);
    // NaN sorts last, keeping the order strict-weak whatever the model produced.
    std::sort(sorted.begin(), sorted.end(),
              [](float a, float b) { return a < b || (std::isnan(b) && !std::isnan(a)); });
    const float lo = sorted[below], hi = sorted[above];
    // torch.lerp's two-sided formula
    float s = weight < 0.5f ? lo + weight * (hi - lo) : hi - (hi - lo) * (1.0f - weight);
    s = std::min(std::max(s, 1.0f), float(max_value));  // torch.clamp(min=1, max=max_value)
    for (size_t i = 0; i < per_image; ++i) image[i] = std::clamp(image[i], -s, s) / s;
  }
}

Spacing read_spacing(const ConfigReader& config, const char* fallback) {
  const std::string s = config.choice("timestep_spacing", fallback, {"linspace", "leading", "trailing"});
  if (s == "linspace") return Spacing::Linspace;
  if (s == "leading") return Spacing::Leading;
  return Spacing::Trailing;
}

std::vector<double> spaced_timesteps(Spacing spacing, int num_train_timesteps, int steps, int64_t steps_offset,
                                     bool integer) {
  const int T = num_train_timesteps;
  std::vector<double> out;
  if (spacing == Spacing::Linspace) {
    for (double v : np_linspace(0.0, double(T - 1), steps)) out.push_back(integer ? np_round(v) : double(float(v)));
    std::reverse(out.begin(), out.end());
  } else if (spacing == Spacing::Leading) {
    const int64_t ratio = T / steps;
    for (int i = steps - 1; i >= 0; --i) out.push_back(double(int64_t(i) * ratio + steps_offset));
  } else {
    for (double v : np_arange(double(T), 0.0, -double(T) / steps))
      if (np_round(v) - 1.0 >= 0.0) out.push_back(np_round(v) - 1.0);
  }
  for (double t : out)
    if (t > double(T - 1))
      throw Error("scheduler config: steps_offset " + std::to_string(steps_offset) + " puts timestep " +
                  std::to_string(int64_t(t)) + " past the last training timestep " + std::to_string(T - 1));
  return out;
}

}  // namespace sdvk
