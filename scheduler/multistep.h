// What the exponential-integrator multistep solvers (DPM-Solver, UniPC) share: the tables
// alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t = log(alpha_t / sigma_t)
// (float32, as diffusers), and their timestep plan, which spaces steps + 1 points and drops the last.
#pragma once
#include <vector>

#include "scheduler/noise_schedule.h"

namespace sdvk {

struct LambdaTables {
  std::vector<float> alpha, sigma, lambda;
};
LambdaTables lambda_tables(const std::vector<float>& alphas_cumprod);

// Integer timesteps, descending and without repeats. `last_timestep` is where the plan starts
// (num_train_timesteps unless lambda_min_clipped cuts the tail). With `karras` the timesteps
// are the rounded training timesteps of Karras sigmas, and repeats are dropped, so a run can
// have fewer than `steps` model calls.
std::vector<double> multistep_timesteps(const TrainSchedule& train, Spacing spacing, int64_t steps_offset,
                                        bool karras, int steps, int last_timestep);

}  // namespace sdvk
