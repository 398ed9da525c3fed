// Diffusion schedulers: the numerical integrators that turn the model's predictions into the
// next latent. Each reproduces its Hugging Face diffusers v0.21.4 class (LCM: see lcm.cpp) on
// the same config, float32 where diffusers works in torch float32, so a run matches diffusers
// step for step.
//
// A run, as diffusers' StableDiffusionPipeline drives it:
//   auto s = Scheduler::create(config);           // or create(config, "dpmpp_2m_karras")
//   s->set_timesteps(steps);
//   TorchGenerator generator(seed);               // scheduler/torch_rng.h
//   latent = generator.randn(size) * s->init_noise_sigma();
//   NoiseSource noise_source = [&](size_t n) { return generator.randn(n); };
//   for (size_t i = 0; i < s->model_calls(); ++i) {
//     auto out = model(s->scale_model_input(latent, i), s->timesteps()[i]);   // + guidance
//     latent = s->step(out, i, latent, noise_source);
//   }
// Latents are flat float vectors (any layout; the math is elementwise except thresholding,
// which works per image: see set_batch_size).
//
// img2img, as diffusers' StableDiffusionImg2ImgPipeline drives it:
//   s->set_timesteps(steps);
//   const size_t first = s->img2img_first_call(steps, strength);
//   if (first < s->model_calls()) latent = s->add_noise(image_latent, generator.randn(size), first);
//   s->begin_at(first);
//   for (size_t i = first; i < s->model_calls(); ++i) { ...the loop above... }
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdvk {

// Standard normal noise for stochastic schedulers (euler_a, ddpm, lcm, SDE solvers): returns
// `count` values, count being the latent's size. To reproduce diffusers, bind it to the
// TorchGenerator (scheduler/torch_rng.h) that drew the initial latent, as diffusers hands the
// same generator to the scheduler.
using NoiseSource = std::function<std::vector<float>(size_t count)>;

class Scheduler {
 public:
  // `config` is a parsed scheduler_config.json. With an empty `name` its "_class_name" picks
  // the scheduler; otherwise `name` is one of names() and the config is read as that class
  // reads it (diffusers' from_config: unknown keys ignored, missing keys take the class's
  // defaults). Throws Error for an unknown class or name and for any bad config value.
  static std::unique_ptr<Scheduler> create(const nlohmann::json& config, const std::string& name = "");
  // "ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_karras", "euler", "euler_a", "heun", "lcm", "lms",
  // "pndm", "unipc".
  static const std::vector<std::string>& names();

  virtual ~Scheduler() = default;
  const std::string& class_name() const { return class_name_; }
  // True when the config sets rescale_betas_zero_snr and this class, as in diffusers v0.21.4,
  // does not apply it (only DDIM and LCM do): a model trained on that schedule then samples
  // from a latent it never saw.
  virtual bool ignores_zero_snr() const = 0;

  // Plans `steps` inference steps (1 to num_train_timesteps) and resets all state.
  void set_timesteps(int steps);
  // One entry per model call: the timestep value the model gets at that call.
  const std::vector<double>& timesteps() const { return timesteps_; }
  // Model calls in a run: one per step for most schedulers, 2 * steps - 1 for heun, steps + 1
  // for pndm.
  size_t model_calls() const { return timesteps_.size(); }
  // The standard deviation of the starting latent: x_T = unit normal noise * init_noise_sigma().
  virtual float init_noise_sigma() const { return 1.0f; }
  // How many images a latent holds (default 1); only dynamic thresholding looks at it.
  void set_batch_size(size_t images);

  // The model's input at call `call` (sigma-based schedulers scale the latent down).
  std::vector<float> scale_model_input(const std::vector<float>& sample, size_t call) const;
  // The latent after model call `call`. Calls come in order 0, 1, ... model_calls() - 1 after
  // set_timesteps (from begin_at's call after begin_at), with same-sized vectors; `noise` may
  // be empty for deterministic schedulers.
  std::vector<float> step(const std::vector<float>& model_output, size_t call, const std::vector<float>& sample,
                          const NoiseSource& noise);

  // ---- img2img ----
  // The first model call of an img2img run of `steps` (the count given to set_timesteps) at
  // `strength` in [0, 1], as diffusers' get_timesteps slices the schedule:
  //   t_start = steps - min(int(steps * strength), steps);  first call = t_start * order,
  // order being the class's `order` (2 for heun, 1 for the rest). Returns model_calls() when
  // that is past the end (low strength): nothing to denoise, the image latent is the result
  // (diffusers would run no step on an empty batch). pndm's steps + 1 calls keep one call at
  // strength 0, as in diffusers. Throws Error for a strength outside [0, 1] or another step count.
  size_t img2img_first_call(int steps, double strength) const;
  // The image latent noised to the timestep of call `call` (< model_calls()), as the class's
  // add_noise: sqrt(alpha_bar_t) * original + sqrt(1 - alpha_bar_t) * noise, or original +
  // noise * sigma for the sigma schedulers (euler, euler_a, heun, lms); float32 as torch.
  std::vector<float> add_noise(const std::vector<float>& original, const std::vector<float>& noise,
                               size_t call) const;
  // Restarts the run at call `call` (0 to model_calls(); after set_timesteps): the next step
  // is call `call`, and the multistep history is empty, as when diffusers' loop starts from a
  // sliced schedule (the first steps then run at low order: dpmpp/unipc first order, lms with
  // the one derivative it has, pndm's warm-up again; heun must begin at a predictor call).
  // Two diffusers v0.21.4 quirks are reproduced, not fixed: lms weights its first derivatives
  // with the coefficients of the order its step index allows (not a plain Euler step), and
  // pndm's warm-up redo leaves the latent one timestep above the next call's timestep.
  void begin_at(size_t call);

 protected:
  explicit Scheduler(std::string class_name) : class_name_(std::move(class_name)) {}

  // Returns the timesteps of a run of `steps` (already range-checked) and resets the state.
  virtual std::vector<double> plan(int steps) = 0;
  virtual int max_steps() const = 0;
  virtual std::vector<float> scale_input(const std::vector<float>& sample, size_t call) const { return sample; }
  virtual std::vector<float> advance(const std::vector<float>& model_output, size_t call,
                                     const std::vector<float>& sample, const NoiseSource& noise) = 0;
  // Clears the multistep state for a run whose first step is `first_call` (set_timesteps: 0).
  // Throws Error where the family cannot begin there.
  virtual void restart(size_t first_call) {}
  // diffusers' class attribute `order`: model calls per inference step in the pipeline's slicing.
  virtual size_t pipeline_order() const { return 1; }
  // add_noise at call `call`, arguments checked.
  virtual std::vector<float> noise_at(const std::vector<float>& original, const std::vector<float>& noise,
                                      size_t call) const = 0;

  // `count` values from `noise`, checked.
  std::vector<float> draw_noise(const NoiseSource& noise, size_t count) const;
  size_t batch_size() const { return batch_size_; }

 private:
  std::string class_name_;
  std::vector<double> timesteps_;
  int steps_ = 0;  // as given to set_timesteps
  size_t next_call_ = 0;
  size_t latent_size_ = 0;  // fixed by the first step of a run
  size_t batch_size_ = 1;
};

}  // namespace sdvk
