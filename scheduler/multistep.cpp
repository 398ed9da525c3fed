#include "scheduler/multistep.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace sdvk {

LambdaTables lambda_tables(const std::vector<float>& alphas_cumprod) {
  LambdaTables t;
  for (float a : alphas_cumprod) {
    t.alpha.push_back(std::sqrt(a));
    t.sigma.push_back(std::sqrt(1.0f - a));
    t.lambda.push_back(std::log(t.alpha.back()) - std::log(t.sigma.back()));
  }
  return t;
}

std::vector<double> multistep_timesteps(const TrainSchedule& train, Spacing spacing, int64_t steps_offset,
                                        bool karras, int steps, int last_timestep) {
  const int T = train.num_train_timesteps;
  std::vector<double> planned;
  if (spacing == Spacing::Linspace) {
    std::vector<double> points = np_linspace(0.0, double(last_timestep - 1), steps + 1);
    for (size_t i = points.size() - 1; i >= 1; --i) planned.push_back(np_round(points[i]));
  } else if (spacing == Spacing::Leading) {
    const int64_t ratio = last_timestep / (steps + 1);
    for (int i = steps; i >= 1; --i) planned.push_back(double(int64_t(i) * ratio + steps_offset));
  } else {
    for (double v : np_arange(double(last_timestep), 0.0, -double(T) / steps))
      if (np_round(v) - 1.0 >= 0.0) planned.push_back(np_round(v) - 1.0);
  }
  if (karras) {
    const std::vector<float> sigmas = train_sigmas(train.alphas_cumprod);
    const std::vector<float> log_sigmas = log_of(sigmas);
    // diffusers hands the ascending training sigmas to _convert_to_karras, which reads
    // sigma_min from the end: the ramp runs upwards and the timesteps are flipped after.
    std::vector<double> ramp = karras_sigmas(sigmas.front(), sigmas.back(), steps);
    planned.clear();
    for (auto it = ramp.rbegin(); it != ramp.rend(); ++it) planned.push_back(np_round(sigma_to_t(*it, log_sigmas)));
  }
  std::vector<double> out;
  std::set<double> seen;
  for (double t : planned) {
    if (!(t >= 0 && t <= double(T - 1)))
      throw Error("scheduler config: timestep_spacing / steps_offset give timestep " + std::to_string(t) +
                  " outside 0.." + std::to_string(T - 1));
    if (seen.insert(t).second) out.push_back(t);
  }
  return out;
}

}  // namespace sdvk
