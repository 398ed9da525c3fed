// Base of the schedulers that step along the discrete training schedule of alphas_cumprod
// (DDIM, DDPM, PNDM, DPM-Solver, UniPC, LCM): the schedule and timestep-spacing options read
// from the config, the step limit the schedule sets, and add_noise on it.
#pragma once
#include <string>
#include <vector>

#include "scheduler/config_reader.h"
#include "scheduler/noise_schedule.h"
#include "scheduler/scheduler.h"

namespace sdvk {

class AlphaScheduler : public Scheduler {
 protected:
  // Reads num_train_timesteps, the betas and alphas_cumprod (read_train_schedule) first, as
  // SigmaScheduler does; each scheduler then reads its own keys.
  AlphaScheduler(const nlohmann::json& json, const char* class_name, const BetaOptions& betas)
      : Scheduler(class_name) {
    train_ = read_train_schedule(ConfigReader(json, class_name), betas);
  }
  // timestep_spacing (`fallback` when absent) and steps_offset (at most the schedule's length).
  void read_spacing_options(const ConfigReader& config, const char* fallback) {
    spacing_ = read_spacing(config, fallback);
    steps_offset_ = config.integer("steps_offset", 0, 0, train_.num_train_timesteps - 1);
  }

  int max_steps() const override { return train_.num_train_timesteps; }
  bool ignores_zero_snr() const override { return train_.zero_snr_ignored; }
  std::vector<float> noise_at(const std::vector<float>& original, const std::vector<float>& noise,
                              size_t call) const override {
    return add_noise_by_alpha(train_.alphas_cumprod, timesteps()[call], original, noise);
  }

  TrainSchedule train_;
  Spacing spacing_ = Spacing::Leading;
  int64_t steps_offset_ = 0;
};

}  // namespace sdvk
