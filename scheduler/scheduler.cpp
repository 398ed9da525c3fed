#include "scheduler/scheduler.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "scheduler/families.h"

namespace sdvk {

namespace {

using Maker = std::unique_ptr<Scheduler> (*)(const nlohmann::json&);

const std::map<std::string, Maker>& makers_by_class() {
  static const std::map<std::string, Maker> makers = {
      {"DDIMScheduler", make_ddim},
      {"DDPMScheduler", make_ddpm},
      {"PNDMScheduler", make_pndm},
      {"EulerDiscreteScheduler", make_euler},
      {"EulerAncestralDiscreteScheduler", make_euler_ancestral},
      {"HeunDiscreteScheduler", make_heun},
      {"LMSDiscreteScheduler", make_lms},
      {"DPMSolverMultistepScheduler", make_dpm_solver},
      {"UniPCMultistepScheduler", make_unipc},
      {"LCMScheduler", make_lcm},
  };
  return makers;
}

// A short name: the class it means and the config keys the name itself implies.
struct NamedScheduler {
  const char* class_name;
  nlohmann::json overrides;
};

const std::map<std::string, NamedScheduler>& schedulers_by_name() {
  static const std::map<std::string, NamedScheduler> names = {
      {"ddim", {"DDIMScheduler", nlohmann::json::object()}},
      {"ddpm", {"DDPMScheduler", nlohmann::json::object()}},
      {"dpmpp_2m",
       {"DPMSolverMultistepScheduler",
        {{"algorithm_type", "dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", false}}}},
      {"dpmpp_2m_karras",
       {"DPMSolverMultistepScheduler",
        {{"algorithm_type", "dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", true}}}},
      {"euler", {"EulerDiscreteScheduler", nlohmann::json::object()}},
      {"euler_a", {"EulerAncestralDiscreteScheduler", nlohmann::json::object()}},
      {"heun", {"HeunDiscreteScheduler", nlohmann::json::object()}},
      {"lcm", {"LCMScheduler", nlohmann::json::object()}},
      {"lms", {"LMSDiscreteScheduler", nlohmann::json::object()}},
      {"pndm", {"PNDMScheduler", nlohmann::json::object()}},
      {"unipc", {"UniPCMultistepScheduler", nlohmann::json::object()}},
  };
  return names;
}

std::string joined_names() {
  std::string out;
  for (const auto& n : Scheduler::names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const std::vector<std::string>& Scheduler::names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, _] : schedulers_by_name()) out.push_back(name);
    return out;
  }();
  return names;
}

std::unique_ptr<Scheduler> Scheduler::create(const nlohmann::json& config, const std::string& name) {
  if (!config.is_object()) throw Error("scheduler config: not a JSON object");
  if (name.empty()) {
    auto it = config.find("_class_name");
    if (it == config.end() || !it->is_string())
      throw Error("scheduler config: no \"_class_name\" string saying which scheduler it is");
    const std::string class_name = it->get<std::string>();
    auto maker = makers_by_class().find(class_name);
    if (maker == makers_by_class().end())
      throw Error("scheduler config: _class_name: scheduler class '" + class_name +
                  "' is not supported (pick one of " + joined_names() + " by name instead)");
    return maker->second(config);
  }
  auto named = schedulers_by_name().find(name);
  if (named == schedulers_by_name().end())
    throw Error("unknown scheduler '" + name + "' (expected one of " + joined_names() + ")");
  nlohmann::json adapted = config;
  for (const auto& [key, value] : named->second.overrides.items()) adapted[key] = value;
  adapted["_class_name"] = named->second.class_name;
  return makers_by_class().at(named->second.class_name)(adapted);
}

void Scheduler::set_timesteps(int steps) {
  if (steps < 1 || steps > max_steps())
    throw Error(class_name_ + ": " + std::to_string(steps) + " inference steps: expected 1 to " +
                std::to_string(max_steps()));
  timesteps_ = plan(steps);
  steps_ = steps;
  begin_at(0);
}

size_t Scheduler::img2img_first_call(int steps, double strength) const {
  if (timesteps_.empty()) throw Error(class_name_ + ": img2img_first_call before set_timesteps");
  if (steps != steps_)
    throw Error(class_name_ + ": img2img_first_call for " + std::to_string(steps) + " steps in a run planned for " +
                std::to_string(steps_));
  if (!(strength >= 0.0 && strength <= 1.0))
    throw Error(class_name_ + ": img2img strength " + std::to_string(strength) + " is outside [0, 1]");
  // Python's int(float): truncation of the double product (10 * 0.3 -> 3, 100 * 0.29 -> 28).
  const int init_steps = std::min(int(double(steps) * strength), steps);
  const size_t t_start = size_t(std::max(steps - init_steps, 0));
  return std::min(t_start * pipeline_order(), timesteps_.size());
}

std::vector<float> Scheduler::add_noise(const std::vector<float>& original, const std::vector<float>& noise,
                                        size_t call) const {
  if (call >= timesteps_.size())
    throw Error(class_name_ + ": add_noise for call " + std::to_string(call) + " of a run of " +
                std::to_string(timesteps_.size()) + " model calls");
  if (original.empty() || noise.size() != original.size())
    throw Error(class_name_ + ": add_noise with " + std::to_string(noise.size()) + " noise values for a latent of " +
                std::to_string(original.size()));
  return noise_at(original, noise, call);
}

void Scheduler::begin_at(size_t call) {
  if (timesteps_.empty()) throw Error(class_name_ + ": begin_at before set_timesteps");
  if (call > timesteps_.size())
    throw Error(class_name_ + ": begin_at call " + std::to_string(call) + " of a run of " +
                std::to_string(timesteps_.size()) + " model calls");
  restart(call);
  next_call_ = call;
  latent_size_ = 0;
}

void Scheduler::set_batch_size(size_t images) {
  if (images == 0) throw Error(class_name_ + ": a batch of 0 images");
  batch_size_ = images;
}

std::vector<float> Scheduler::scale_model_input(const std::vector<float>& sample, size_t call) const {
  if (call >= timesteps_.size())
    throw Error(class_name_ + ": scale_model_input for call " + std::to_string(call) + " of a run of " +
                std::to_string(timesteps_.size()) + " model calls");
  return scale_input(sample, call);
}

std::vector<float> Scheduler::step(const std::vector<float>& model_output, size_t call,
                                   const std::vector<float>& sample, const NoiseSource& noise) {
  if (timesteps_.empty()) throw Error(class_name_ + ": step before set_timesteps");
  if (call != next_call_)
    throw Error(class_name_ + ": step for call " + std::to_string(call) + " but the run is at call " +
                std::to_string(next_call_) + " of " + std::to_string(timesteps_.size()));
  if (sample.empty() || model_output.size() != sample.size())
    throw Error(class_name_ + ": model output of " + std::to_string(model_output.size()) +
                " values for a latent of " + std::to_string(sample.size()));
  if (latent_size_ == 0) latent_size_ = sample.size();
  if (sample.size() != latent_size_)
    throw Error(class_name_ + ": latent of " + std::to_string(sample.size()) + " values in a run started with " +
                std::to_string(latent_size_));
  if (sample.size() % batch_size_ != 0)
    throw Error(class_name_ + ": latent of " + std::to_string(sample.size()) + " values is not " +
                std::to_string(batch_size_) + " equal images");
  std::vector<float> next = advance(model_output, call, sample, noise);
  ++next_call_;
  return next;
}

std::vector<float> Scheduler::draw_noise(const NoiseSource& noise, size_t count) const {
  if (!noise) throw Error(class_name_ + ": this scheduler needs a noise source");
  std::vector<float> values = noise(count);
  if (values.size() != count)
    throw Error(class_name_ + ": noise source gave " + std::to_string(values.size()) + " values, wanted " +
                std::to_string(count));
  return values;
}

}  // namespace sdvk
