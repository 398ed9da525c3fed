// Pieces every scheduler shares: the training noise schedule (betas, cumulative alphas, sigmas),
// the numpy routines diffusers builds inference timesteps with, Karras sigmas, and dynamic
// thresholding. Values are held in the precision diffusers v0.21.4 holds them in: torch
// tensors are float32, numpy intermediates float64.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "scheduler/config_reader.h"

namespace sdvk {

// Upper bound on num_train_timesteps: real models use 1000; this only keeps allocations sane.
constexpr int kMaxTrainTimesteps = 100000;

struct TrainSchedule {
  int num_train_timesteps = 0;
  std::vector<float> betas;           // float32, as torch holds them
  std::vector<float> alphas_cumprod;  // float32 (torch.cumprod accumulates in double on the CPU)
  // The config asks for rescale_betas_zero_snr and the class does not apply it (diffusers
  // v0.21.4 ignores the key there too): the model's schedule is not the one it was trained on.
  bool zero_snr_ignored = false;
};

// Which beta schedules and options a scheduler class accepts, and its defaults.
struct BetaOptions {
  std::string default_schedule = "linear";
  double default_start = 0.0001;
  double default_end = 0.02;
  bool allow_exp = false;             // HeunDiscreteScheduler only
  bool allow_sigmoid = false;         // DDPMScheduler only
  bool allow_zero_snr = false;        // rescale_betas_zero_snr: DDIM and LCM in v0.21.4
};

// Reads num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas and
// rescale_betas_zero_snr.
TrainSchedule read_train_schedule(const ConfigReader& config, const BetaOptions& options);

// ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in float32, ascending in t.
std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod);
// np.log of those float32 sigmas.
std::vector<float> log_of(const std::vector<float>& values);

// The add_noise of the alpha_bar schedulers (DDIM, DDPM, PNDM, DPM-Solver, UniPC, LCM) at
// integer training timestep `timestep`: sqrt(a) * original + sqrt(1 - a) * noise with
// a = alphas_cumprod[timestep], all float32 as torch computes it.
std::vector<float> add_noise_by_alpha(const std::vector<float>& alphas_cumprod, double timestep,
                                      const std::vector<float>& original, const std::vector<float>& noise);

// ---- numpy, as diffusers calls it ----
// np.arange(start, stop, step) for float64: length ceil((stop - start) / step), element i is
// start + i * ((start + step) - start) as numpy fills it.
std::vector<double> np_arange(double start, double stop, double step);
// np.linspace(start, stop, num) in float64 (endpoint included, the last value exactly stop).
std::vector<double> np_linspace(double start, double stop, int num);
// np.round: halves to even.
double np_round(double x);
// np.interp(x, arange(len(fp)), fp) with float32 table values, computed in float64.
double np_interp(double x, const std::vector<float>& fp);

// diffusers' _convert_to_karras with its argument order: sigma_min = in_sigmas[-1] and
// sigma_max = in_sigmas[0] (callers pass whatever those elements are), rho = 7.
std::vector<double> karras_sigmas(double first_in, double last_in, int num);
// diffusers' _sigma_to_t: the fractional training timestep whose log-sigma (linearly
// interpolated) is log(sigma).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

// diffusers' _threshold_sample on `batch` equal parts of x0: per image, s = the `ratio`
// quantile of |x0| clamped to [1, max_value]; x0 = clamp(x0, -s, s) / s.
void dynamic_threshold(std::vector<float>& x0, size_t batch, double ratio, double max_value);

// How inference timesteps are spread over the training range (diffusers' timestep_spacing).
enum class Spacing { Linspace, Leading, Trailing };
Spacing read_spacing(const ConfigReader& config, const char* fallback);

// The descending inference timesteps most diffusers schedulers use, before any sigma mapping:
//   linspace: linspace(0, T - 1, steps), rounded when `integer` (DDIM, DDPM, PNDM) and kept
//             fractional in float32 otherwise (Euler, Heun, LMS);
//   leading:  (0, 1, ..., steps - 1) * (T // steps) + steps_offset;
//   trailing: round(arange(T, 0, -T / steps)) - 1.
// numpy's arange gives one extra, negative, timestep for a few step counts (61 of 1..1000);
// it is dropped here (diffusers would index its tables from the end with it). Throws Error
// when steps_offset pushes a timestep past T - 1.
std::vector<double> spaced_timesteps(Spacing spacing, int num_train_timesteps, int steps, int64_t steps_offset,
                                     bool integer);

}  // namespace sdvk
