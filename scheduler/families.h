// Internal: one constructor per scheduler family, each reading its diffusers class's config.
#pragma once
#include <memory>

#include <nlohmann/json.hpp>

#include "scheduler/scheduler.h"

namespace sdvk {

std::unique_ptr<Scheduler> make_ddim(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_ddpm(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_pndm(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_euler(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_euler_ancestral(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_heun(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_lms(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_dpm_solver(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_unipc(const nlohmann::json& config);
std::unique_ptr<Scheduler> make_lcm(const nlohmann::json& config);

}  // namespace sdvk
