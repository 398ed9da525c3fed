// Schedulers against diffusers v0.21.4 runs (tests/data/schedulers, see index.json): every
// model input and every latent of every run within 1e-5 of the largest reference value; LCM
// (no golden) against its defining properties; bad names and configs as one-line errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "scheduler/config_reader.h"
#include "scheduler/noise_schedule.h"
#include "scheduler/scheduler.h"
#include "scheduler/torch_rng.h"
#include "tests/support/golden_f32.h"
#include "tests/support/scheduler_goldens.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::test;

namespace {

constexpr double kTol = 1e-5;

// The Stable Diffusion 1.5 scheduler_config.json.
nlohmann::json sd15_config() {
  return nlohmann::json::parse(R"({
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
    "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
    "clip_sample": false})");
}

// Runs `scheduler` through golden case `c` from x_T, feeding the golden model outputs and
// noises, and checks every step. Returns the largest relative error seen.
double run_golden_case(Scheduler& scheduler, const nlohmann::json& c) {
  const std::string file = c.at("file");
  test::GoldenF32 golden(test::kSchedulerGoldens + "/" + file);
  scheduler.set_timesteps(c.at("steps").get<int>());
  const size_t calls = c.at("model_calls");
  EXPECT_EQ(scheduler.model_calls(), calls) << file;
  if (scheduler.model_calls() != calls) return INFINITY;

  const auto& ref_t = golden.at("timesteps");
  for (size_t i = 0; i < calls; ++i)
    EXPECT_NEAR(scheduler.timesteps()[i], ref_t[i], 2e-4 * std::max(1.0, std::fabs(double(ref_t[i]))))
        << file << " timestep " << i;
  EXPECT_NEAR(scheduler.init_noise_sigma(), golden.at("init_noise_sigma")[0], 1e-6 * golden.at("init_noise_sigma")[0])
      << file;

  size_t noise_used = 0;
  NoiseSource noise = [&](size_t count) {
    const auto& n = golden.at("noise_" + std::to_string(noise_used++));
    EXPECT_EQ(n.size(), count);
    return n;
  };
  double worst = 0;
  std::vector<float> x = golden.at("x_T");
  for (size_t i = 0; i < calls; ++i) {
    const std::string at = file + " call " + std::to_string(i);
    const auto input = scheduler.scale_model_input(x, i);
    const double input_err = test::relative_error(input, golden.at("model_input_" + std::to_string(i)));
    EXPECT_LE(input_err, kTol) << at << " model input";
    // The toy model on our input and timestep reproduces the recorded output: the timestep
    // handed to the model is right.
    const auto& output = golden.at("model_output_" + std::to_string(i));
    EXPECT_LE(test::relative_error(toy_model(input, scheduler.timesteps()[i]), output), kTol) << at << " model";
    x = scheduler.step(output, i, x, noise);
    const double x_err = test::relative_error(x, golden.at("x_" + std::to_string(i)));
    EXPECT_LE(x_err, kTol) << at << " latent";
    worst = std::max({worst, input_err, x_err});
  }
  EXPECT_EQ(noise_used, c.at("noise_draws").get<size_t>()) << file << " noise draws";
  return worst;
}

TEST(Scheduler, EveryGoldenRunMatchesDiffusers) {
  const auto index = golden_index();
  ASSERT_EQ(index.size(), 28u);
  for (const auto& c : index) {
    auto scheduler = Scheduler::create(case_config(c));
    EXPECT_EQ(scheduler->class_name(), c.at("scheduler").get<std::string>());
    const double worst = run_golden_case(*scheduler, c);
    std::printf("  %-34s worst relative error %.2e\n", c.at("file").get<std::string>().c_str(), worst);
  }
}

TEST(Scheduler, ARunCanBeRepeatedAfterSetTimesteps) {
  // set_timesteps resets the multistep history: a second identical run gives identical results.
  for (const auto& c : golden_index()) {
    if (c.at("file") != "unipc_10.safetensors" && c.at("file") != "pndm_10.safetensors") continue;
    auto scheduler = Scheduler::create(case_config(c));
    run_golden_case(*scheduler, c);
    EXPECT_LE(run_golden_case(*scheduler, c), kTol);
  }
}

TEST(Scheduler, NamesReadTheModelsConfigAsTheirOwnClass) {
  // diffusers' DPMSolverMultistepScheduler.from_config(sd15 config, use_karras_sigmas=True)
  // is the golden dpmpp_2m_karras run; likewise euler_a and ddim.
  const std::map<std::string, std::string> by_name = {{"dpmpp_2m_karras", "dpmpp_2m_karras_25.safetensors"},
                                                      {"dpmpp_2m", "dpmpp_2m_10.safetensors"},
                                                      {"euler_a", "euler_a_10.safetensors"},
                                                      {"ddim", "ddim_25.safetensors"}};
  for (const auto& c : golden_index()) {
    for (const auto& [name, file] : by_name) {
      if (c.at("file") != file) continue;
      auto scheduler = Scheduler::create(sd15_config(), name);
      EXPECT_EQ(scheduler->class_name(), c.at("scheduler").get<std::string>());
      EXPECT_LE(run_golden_case(*scheduler, c), kTol) << name;
    }
  }
  for (const auto& name : Scheduler::names()) {
    auto scheduler = Scheduler::create(sd15_config(), name);
    scheduler->set_timesteps(4);
    EXPECT_GE(scheduler->model_calls(), 4u) << name;
  }
}

TEST(Scheduler, UnknownNamesAndBadConfigsAreOneLineErrors) {
  expect_error([] { Scheduler::create(sd15_config(), "euler_ancestral"); }, "unknown scheduler 'euler_ancestral'");
  auto config = sd15_config();
  config["_class_name"] = "KDPM2DiscreteScheduler";
  expect_error([&] { Scheduler::create(config); }, "KDPM2DiscreteScheduler");
  config.erase("_class_name");
  expect_error([&] { Scheduler::create(config); }, "_class_name");
  expect_error([] { Scheduler::create(nlohmann::json::array(), "ddim"); }, "not a JSON object");

  // Keys every scheduler reads.
  const std::vector<std::pair<nlohmann::json, std::string>> bad = {
      {{{"beta_schedule", "cosine"}}, "beta_schedule"},
      {{{"beta_start", "0.1"}}, "beta_start"},
      {{{"beta_end", 2.0}}, "beta_end"},
      {{{"beta_start", 0.02}, {"beta_end", 0.01}}, "beta_end"},  // falling noise: a typo
      {{{"num_train_timesteps", -5}}, "num_train_timesteps"},
      {{{"num_train_timesteps", 1e12}}, "num_train_timesteps"},
      {{{"prediction_type", "x0"}}, "prediction_type"},
      {{{"trained_betas", {0.1, 0.2}}}, "trained_betas"},
  };
  for (const auto& name : Scheduler::names()) {
    for (const auto& [patch, field] : bad) {
      auto c = sd15_config();
      c.merge_patch(patch);
      expect_error([&] { Scheduler::create(c, name); }, field);
    }
    if (name == "lcm") continue;  // LCM has its own timestep plan
    auto c = sd15_config();
    c["timestep_spacing"] = "uniform";
    expect_error([&] { Scheduler::create(c, name); }, "timestep_spacing");
    c = sd15_config();
    c["steps_offset"] = 5000;
    expect_error([&] { Scheduler::create(c, name); }, "steps_offset");
  }
  // Keys of some classes only (others ignore them, as diffusers' from_config does).
  for (const char* name : {"ddim", "ddpm", "heun", "lcm"}) {
    auto c = sd15_config();
    c["clip_sample"] = "yes";
    expect_error([&] { Scheduler::create(c, name); }, "clip_sample");
  }
  auto dpm = sd15_config();
  dpm["_class_name"] = "DPMSolverMultistepScheduler";
  dpm["algorithm_type"] = "deis2";
  expect_error([&] { Scheduler::create(dpm); }, "algorithm_type");
  dpm["algorithm_type"] = "sde-dpmsolver++";
  dpm["solver_order"] = 3;
  expect_error([&] { Scheduler::create(dpm); }, "solver_order");
  dpm["solver_order"] = 7;
  expect_error([&] { Scheduler::create(dpm, "unipc"); }, "solver_order");
  auto ddpm = sd15_config();
  ddpm["variance_type"] = "learned_range";
  expect_error([&] { Scheduler::create(ddpm, "ddpm"); }, "variance_type");
}

TEST(Scheduler, MisuseIsAnErrorNotACrash) {
  auto s = Scheduler::create(sd15_config(), "euler_a");
  const std::vector<float> x(16, 0.5f);
  expect_error([&] { s->step(x, 0, x, nullptr); }, "before set_timesteps");
  expect_error([&] { s->set_timesteps(0); }, "0 inference steps");
  expect_error([&] { s->set_timesteps(1001); }, "1001 inference steps");
  s->set_timesteps(3);
  expect_error([&] { s->scale_model_input(x, 3); }, "call 3");
  expect_error([&] { s->step(x, 1, x, nullptr); }, "call 1");
  expect_error([&] { s->step(std::vector<float>(15), 0, x, nullptr); }, "15 values");
  expect_error([&] { s->step(x, 0, x, nullptr); }, "needs a noise source");
  NoiseSource short_noise = [](size_t) { return std::vector<float>(3); };
  expect_error([&] { s->step(x, 0, x, short_noise); }, "gave 3 values");
  expect_error([&] { s->set_batch_size(0); }, "batch of 0");
}

// ---- Every option, without goldens: the single-point problem ----
// When the data is one point x0, a model that knows it returns the exact eps (or v, or x0)
// for whatever latent it sees, and the denoising ODE's solution is a straight line in
// (sigma, x / alpha): every scheduler here is exact on it (Euler, Heun, LMS and the multistep
// solvers integrate a constant derivative exactly; DDIM, PNDM and DDPM transfer along it).
// So each run must end at its known endpoint: x0 where the last noise level is 0, and
// alpha_0 x0 + sigma_0 e for DPM-Solver and UniPC, which stop at training timestep 0.
// (Not PNDM with v_prediction: it averages v over timesteps before converting to eps, which
// is not exact here; the goldens cover DDIM's v_prediction.)
// Options that only change how the path is walked (orders, variants, spacings, Karras,
// clipping and thresholding that the path never triggers) must all land there; a wrong
// coefficient anywhere moves the endpoint by O(1).

// The exact prediction at integer timestep t from model input x_in = sqrt(a) x0 + sqrt(1 - a) eps.
std::vector<float> oracle(const std::vector<float>& input, double t, const std::vector<double>& alphas,
                          const std::vector<float>& x0, const std::string& prediction) {
  const double a = alphas.at(size_t(t));
  std::vector<float> out(input.size());
  for (size_t k = 0; k < out.size(); ++k) {
    const double eps = (input[k] - std::sqrt(a) * x0[k]) / std::sqrt(1 - a);
    out[k] = float(prediction == "epsilon"        ? eps
                   : prediction == "v_prediction" ? std::sqrt(a) * eps - std::sqrt(1 - a) * x0[k]
                                                  : double(x0[k]));
  }
  return out;
}

TEST(Scheduler, EveryOptionSolvesTheSinglePointProblem) {
  struct Case {
    std::string name;
    nlohmann::json patch;
  };
  const nlohmann::json alpha_one = {{"set_alpha_to_one", true}};
  const std::vector<Case> cases = {
      {"ddim", alpha_one},
      {"ddim", {{"set_alpha_to_one", true}, {"prediction_type", "v_prediction"}}},
      {"ddim", {{"set_alpha_to_one", true}, {"prediction_type", "sample"}}},
      {"ddim", {{"set_alpha_to_one", true}, {"timestep_spacing", "trailing"}}},
      {"ddim", {{"set_alpha_to_one", true}, {"timestep_spacing", "linspace"}}},
      {"ddim", {{"set_alpha_to_one", true}, {"clip_sample", true}}},
      {"ddim", {{"set_alpha_to_one", true}, {"thresholding", true}}},
      {"ddim", {{"set_alpha_to_one", true}, {"beta_schedule", "linear"}, {"beta_start", 0.0001}, {"beta_end", 0.02}}},
      {"pndm", alpha_one},
      {"pndm", {{"set_alpha_to_one", true}, {"skip_prk_steps", false}}},
      {"pndm", {{"set_alpha_to_one", true}, {"timestep_spacing", "trailing"}}},
      {"ddpm", nlohmann::json::object()},
      {"ddpm", {{"prediction_type", "v_prediction"}}},
      {"ddpm", {{"prediction_type", "sample"}, {"clip_sample", true}}},
      {"ddpm", {{"variance_type", "fixed_small_log"}}},
      {"ddpm", {{"variance_type", "fixed_large"}, {"timestep_spacing", "linspace"}}},
      {"euler", {{"timestep_spacing", "leading"}}},
      {"euler", {{"timestep_spacing", "leading"}, {"prediction_type", "v_prediction"}}},
      {"euler", {{"timestep_spacing", "trailing"}, {"prediction_type", "sample"}}},
      {"euler_a", {{"timestep_spacing", "leading"}}},
      {"euler_a", {{"timestep_spacing", "trailing"}, {"prediction_type", "v_prediction"}}},
      {"heun", {{"timestep_spacing", "leading"}}},
      {"heun", {{"timestep_spacing", "leading"}, {"prediction_type", "v_prediction"}, {"clip_sample", true}}},
      {"heun", {{"timestep_spacing", "trailing"}, {"prediction_type", "sample"}}},
      {"lms", {{"timestep_spacing", "leading"}}},
      {"lms", {{"timestep_spacing", "trailing"}, {"prediction_type", "v_prediction"}}},
      {"dpmpp_2m", nlohmann::json::object()},
      {"dpmpp_2m", {{"prediction_type", "v_prediction"}}},
      {"dpmpp_2m", {{"prediction_type", "sample"}, {"timestep_spacing", "leading"}}},
      {"dpmpp_2m", {{"solver_type", "heun"}, {"timestep_spacing", "trailing"}}},
      {"dpmpp_2m_karras", {{"prediction_type", "v_prediction"}, {"lower_order_final", false}}},
      {"dpmpp_2m", {{"thresholding", true}}},
      {"unipc", nlohmann::json::object()},
      {"unipc", {{"prediction_type", "v_prediction"}, {"solver_type", "bh1"}}},
      {"unipc", {{"prediction_type", "sample"}, {"solver_order", 3}}},
      {"unipc", {{"solver_order", 1}, {"timestep_spacing", "trailing"}}},
      {"unipc", {{"predict_x0", false}, {"use_karras_sigmas", true}}},
      {"unipc", {{"disable_corrector", {0, 1}}, {"thresholding", true}, {"timestep_spacing", "leading"}}},
      {"lcm", nlohmann::json::object()},
      {"lcm", {{"prediction_type", "v_prediction"}}},
  };
  // DPMSolverMultistepScheduler options reached through its class name (the dpmpp_2m name
  // fixes algorithm_type and solver_order).
  std::vector<Case> all = cases;
  for (nlohmann::json patch : {nlohmann::json{{"algorithm_type", "dpmsolver"}},
                               nlohmann::json{{"algorithm_type", "dpmsolver"}, {"solver_type", "heun"}},
                               nlohmann::json{{"algorithm_type", "dpmsolver"}, {"thresholding", true}},
                               nlohmann::json{{"solver_order", 1}},
                               nlohmann::json{{"solver_order", 3}},
                               nlohmann::json{{"solver_order", 3}, {"algorithm_type", "dpmsolver"}},
                               nlohmann::json{{"algorithm_type", "deis"}, {"solver_type", "logrho"}}}) {
    patch["_class_name"] = "DPMSolverMultistepScheduler";
    all.push_back({"", patch});
  }

  TorchGenerator rng(11);
  std::vector<float> x0 = rng.randn(64);
  for (auto& v : x0) v = 0.8f * std::tanh(v);  // inside [-1, 1]: clipping never triggers
  for (const auto& c : all) {
    auto config = sd15_config();
    config.merge_patch(c.patch);
    const std::string label = (c.name.empty() ? "DPMSolverMultistepScheduler" : c.name) + " " + c.patch.dump();
    const std::string prediction = config.value("prediction_type", "epsilon");
    const auto alphas = alphas_cumprod(config.at("beta_schedule") == "scaled_linear");
    auto s = Scheduler::create(config, c.name);
    s->set_timesteps(10);
    std::vector<float> x = rng.randn(64);
    for (auto& v : x) v *= s->init_noise_sigma();
    const std::vector<float> x_start = x;
    NoiseSource noise = [&](size_t n) { return rng.randn(n); };
    for (size_t i = 0; i < s->model_calls(); ++i) {
      const double t = s->timesteps()[i];
      ASSERT_EQ(t, std::floor(t)) << label;
      x = s->step(oracle(s->scale_model_input(x, i), t, alphas, x0, prediction), i, x, noise);
    }
    std::vector<float> endpoint = x0;
    if (s->class_name() == "DPMSolverMultistepScheduler" || s->class_name() == "UniPCMultistepScheduler") {
      const double a_first = alphas[size_t(s->timesteps()[0])], a_last = alphas[0];
      for (size_t k = 0; k < x0.size(); ++k) {
        const double e = (x_start[k] - std::sqrt(a_first) * x0[k]) / std::sqrt(1 - a_first);
        endpoint[k] = float(std::sqrt(a_last) * x0[k] + std::sqrt(1 - a_last) * e);
      }
    }
    EXPECT_LE(test::relative_error(x, endpoint), 2e-5) << label;
  }
}

TEST(Scheduler, SdeSolverStepsAreTheSdeDpmSolverFormulas) {
  // One step from t = 999 to 0 (first order) against the formulas of Lu et al. 2022
  // (arXiv 2211.01095, SDE-DPM-Solver-1 and SDE-DPM-Solver++1) in double.
  const auto ac = sd_alphas_cumprod();
  const double alpha_s = std::sqrt(ac[999]), sigma_s = std::sqrt(1 - ac[999]);
  const double alpha_t = std::sqrt(ac[0]), sigma_t = std::sqrt(1 - ac[0]);
  const double h = std::log(alpha_t / sigma_t) - std::log(alpha_s / sigma_s);
  TorchGenerator rng(12);
  const std::vector<float> x = rng.randn(64), eps = rng.randn(64), z = rng.randn(64);
  for (const char* algorithm : {"sde-dpmsolver++", "sde-dpmsolver"}) {
    auto config = sd15_config();
    config["_class_name"] = "DPMSolverMultistepScheduler";
    config["algorithm_type"] = algorithm;
    auto s = Scheduler::create(config);
    s->set_timesteps(1);
    ASSERT_EQ(s->timesteps(), std::vector<double>{999});
    const auto got = s->step(eps, 0, x, [&](size_t) { return z; });
    std::vector<float> want(64);
    for (size_t k = 0; k < 64; ++k) {
      if (std::string(algorithm) == "sde-dpmsolver++") {
        const double x0 = (x[k] - sigma_s * eps[k]) / alpha_s;
        want[k] = float(sigma_t / sigma_s * std::exp(-h) * x[k] + alpha_t * (1 - std::exp(-2 * h)) * x0 +
                        sigma_t * std::sqrt(1 - std::exp(-2 * h)) * z[k]);
      } else {
        want[k] = float(alpha_t / alpha_s * x[k] - 2 * sigma_t * (std::exp(h) - 1) * eps[k] +
                        sigma_t * std::sqrt(std::exp(2 * h) - 1) * z[k]);
      }
    }
    EXPECT_LE(test::relative_error(got, want), 1e-5) << algorithm;
  }
}

TEST(Scheduler, SdeSolversDrawNoiseEveryStep) {
  // Over a run: one draw per step, and SDE-DPM-Solver++ (whose marginals are exact on the
  // single-point problem) ends at alpha_0 x0 plus noise of scale sigma_0 ~ 0.03.
  const auto alphas = sd_alphas_cumprod();
  TorchGenerator rng(13);
  const std::vector<float> x0 = rng.randn(256);
  for (const char* algorithm : {"sde-dpmsolver++", "sde-dpmsolver"}) {
    for (const char* solver : {"midpoint", "heun"}) {
      auto config = sd15_config();
      config["_class_name"] = "DPMSolverMultistepScheduler";
      config["algorithm_type"] = algorithm;
      config["solver_type"] = solver;
      auto s = Scheduler::create(config);
      s->set_timesteps(20);
      std::vector<float> x = rng.randn(256);
      size_t draws = 0;
      NoiseSource noise = [&](size_t n) {
        ++draws;
        return rng.randn(n);
      };
      for (size_t i = 0; i < s->model_calls(); ++i)
        x = s->step(oracle(x, s->timesteps()[i], alphas, x0, "epsilon"), i, x, noise);
      EXPECT_EQ(draws, 20u) << algorithm;
      if (std::string(algorithm) != "sde-dpmsolver++") continue;
      std::vector<float> target(x0.size());
      for (size_t k = 0; k < x0.size(); ++k) target[k] = float(std::sqrt(alphas[0]) * x0[k]);
      const double err = test::relative_error(x, target);
      EXPECT_GT(err, 1e-3) << solver << ": the noise went missing";
      EXPECT_LT(err, 0.1) << solver;
    }
  }
}

// ---- the shared pieces ----

TrainSchedule schedule_from(const nlohmann::json& config) {
  BetaOptions options;  // as the class that accepts the schedule would set them
  options.allow_exp = config.value("beta_schedule", "") == "exp";
  options.allow_sigmoid = config.value("beta_schedule", "") == "sigmoid";
  options.allow_zero_snr = true;
  return read_train_schedule(ConfigReader(config, "test"), options);
}

TEST(NoiseSchedule, BetaSchedulesFollowTheirDefinitions) {
  auto linear = schedule_from({{"beta_schedule", "linear"}, {"beta_start", 0.001}, {"beta_end", 0.02}});
  EXPECT_EQ(linear.betas.front(), 0.001f);
  EXPECT_EQ(linear.betas.back(), 0.02f);
  EXPECT_NEAR(linear.betas[500], 0.001 + 0.019 * 500 / 999, 1e-9);

  // squaredcos_cap_v2: alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2)^2, betas capped at 0.999.
  auto cosine = schedule_from({{"beta_schedule", "squaredcos_cap_v2"}});
  auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  EXPECT_EQ(cosine.betas[10], float(1 - alpha_bar(0.011) / alpha_bar(0.010)));
  EXPECT_EQ(cosine.betas.back(), 0.999f);

  // exp: alpha_bar(t) = exp(-12 t), so every beta is 1 - exp(-12 / T).
  auto exp_schedule = schedule_from({{"beta_schedule", "exp"}});
  EXPECT_NEAR(exp_schedule.betas[0], 1 - std::exp(-0.012), 1e-7);
  EXPECT_NEAR(exp_schedule.betas[999], 1 - std::exp(-0.012), 1e-7);

  auto sigmoid = schedule_from({{"beta_schedule", "sigmoid"}, {"beta_start", 0.0001}, {"beta_end", 0.02}});
  EXPECT_NEAR(sigmoid.betas[0], 0.0001 + 0.0199 / (1 + std::exp(6.0)), 1e-8);
  EXPECT_NEAR(sigmoid.betas[999], 0.0001 + 0.0199 / (1 + std::exp(-6.0)), 1e-8);

  std::vector<double> trained(1000, 0.01);
  auto given = schedule_from({{"trained_betas", trained}});
  EXPECT_EQ(given.betas, std::vector<float>(1000, 0.01f));

  // Zero terminal SNR: the last cumulative alpha is 0, the first one unchanged.
  auto plain = schedule_from({{"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"beta_end", 0.012}});
  auto zero_snr = schedule_from({{"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"beta_end", 0.012},
                                 {"rescale_betas_zero_snr", true}});
  EXPECT_EQ(zero_snr.alphas_cumprod.back(), 0.0f);
  EXPECT_NEAR(zero_snr.alphas_cumprod[0], plain.alphas_cumprod[0], 1e-6);
}

// Only DDIM and LCM apply rescale_betas_zero_snr in diffusers v0.21.4; every other class reports
// that it ignores it (generate warns), and none reports it when the key is absent or false.
TEST(NoiseSchedule, ClassesSayWhetherTheyApplyZeroTerminalSnr) {
  const nlohmann::json plain = {{"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"beta_end", 0.012}};
  nlohmann::json zero_snr = plain;
  zero_snr["rescale_betas_zero_snr"] = true;
  for (const std::string& name : Scheduler::names()) {
    const bool applies = name == "ddim" || name == "lcm";
    EXPECT_EQ(Scheduler::create(zero_snr, name)->ignores_zero_snr(), !applies) << name;
    EXPECT_FALSE(Scheduler::create(plain, name)->ignores_zero_snr()) << name;
  }
}

TEST(NoiseSchedule, TimestepPlans) {
  EXPECT_EQ(spaced_timesteps(Spacing::Leading, 1000, 4, 1, true), (std::vector<double>{751, 501, 251, 1}));
  EXPECT_EQ(spaced_timesteps(Spacing::Trailing, 1000, 4, 0, true), (std::vector<double>{999, 749, 499, 249}));
  EXPECT_EQ(spaced_timesteps(Spacing::Linspace, 1000, 4, 0, true), (std::vector<double>{999, 666, 333, 0}));
  EXPECT_EQ(spaced_timesteps(Spacing::Linspace, 1000, 4, 0, false), (std::vector<double>{999, 666, 333, 0}));
  // Fractional linspace timesteps stay fractional (float32) for the sigma schedulers.
  EXPECT_EQ(spaced_timesteps(Spacing::Linspace, 1000, 7, 0, false)[5], double(166.5f));
  // numpy's arange gives 62 points for 61 trailing steps; the extra negative one is dropped.
  auto trailing61 = spaced_timesteps(Spacing::Trailing, 1000, 61, 0, true);
  EXPECT_EQ(trailing61.size(), 61u);
  EXPECT_EQ(trailing61.front(), 999);
  EXPECT_GE(trailing61.back(), 0);
  EXPECT_THROW(spaced_timesteps(Spacing::Leading, 1000, 10, 100, true), Error);
}

TEST(NoiseSchedule, KarrasSigmasAndTheirTimesteps) {
  auto sd = schedule_from({{"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"beta_end", 0.012}});
  const auto sigmas = train_sigmas(sd.alphas_cumprod);
  const auto log_sigmas = log_of(sigmas);
  // The ramp runs from its first argument to its last, evenly in sigma^(1/7).
  auto k = karras_sigmas(14.6, 0.03, 5);
  EXPECT_NEAR(k.front(), 14.6, 1e-12);
  EXPECT_NEAR(k.back(), 0.03, 1e-12);
  EXPECT_NEAR(std::pow(k[2], 1 / 7.0), (std::pow(14.6, 1 / 7.0) + std::pow(0.03, 1 / 7.0)) / 2, 1e-12);
  // sigma_to_t inverts the training sigmas.
  for (int t : {0, 1, 250, 998, 999}) EXPECT_NEAR(sigma_to_t(sigmas[size_t(t)], log_sigmas), t, 1e-3) << t;
  EXPECT_NEAR(sigma_to_t(std::sqrt(double(sigmas[500]) * sigmas[501]), log_sigmas), 500.5, 1e-3);
}

TEST(NoiseSchedule, DynamicThresholdingClampsAtTheQuantile) {
  std::vector<float> x(100);
  for (size_t i = 0; i < 100; ++i) x[i] = (i % 2 ? -1.0f : 1.0f) * float(i) / 10;  // |x| = 0.0 .. 9.9
  auto y = x;
  // The 0.995 quantile of 0.0..9.9: rank 98.505, between 9.8 and 9.9.
  dynamic_threshold(y, 1, 0.995, 20.0);
  const float s = 9.8505f;
  EXPECT_NEAR(y[99], -1.0f, 1e-6);
  EXPECT_NEAR(y[50], 5.0f / s, 1e-6);
  EXPECT_NEAR(y[98], 9.8f / s, 1e-6);
  // Per image: two images thresholded separately; and sample_max_value caps s.
  std::vector<float> two = x;
  two.insert(two.end(), 100, 0.5f);
  dynamic_threshold(two, 2, 0.995, 2.0);
  EXPECT_NEAR(two[50], 1.0f, 1e-6);     // clamped to s = 2, then / 2
  EXPECT_NEAR(two[20], 2.0f / 2.0f, 1e-6);
  EXPECT_NEAR(two[10], 1.0f / 2.0f, 1e-6);
  EXPECT_EQ(two[150], 0.5f);             // s = 1 in the second image: unchanged
}

// ---- LCM: no golden (it is not in diffusers v0.21.4); its defining properties instead ----

nlohmann::json lcm_config() {
  auto c = sd15_config();
  c["_class_name"] = "LCMScheduler";
  c["original_inference_steps"] = 50;
  return c;
}

TEST(Lcm, TimestepsAreTheDistillationScheduleSubset) {
  auto s = Scheduler::create(lcm_config());
  s->set_timesteps(4);
  EXPECT_EQ(s->timesteps(), (std::vector<double>{999, 759, 499, 259}));
  s->set_timesteps(1);
  EXPECT_EQ(s->timesteps(), (std::vector<double>{999}));
  s->set_timesteps(8);
  EXPECT_EQ(s->timesteps(), (std::vector<double>{999, 879, 759, 639, 499, 379, 259, 139}));
  expect_error([&] { s->set_timesteps(51); }, "51 inference steps");
}

TEST(Lcm, AnOracleModelLandsOnTheCleanSample) {
  // With a model that predicts the true noise of x_t = sqrt(a) x0 + sqrt(1 - a) eps, every LCM
  // step's denoised estimate is x0 (up to c_skip, ~1e-7 at t >= 139), and the run ends there,
  // whatever noise it re-injects between steps.
  const auto alphas = sd_alphas_cumprod();
  TorchGenerator rng(3);
  const std::vector<float> x0 = rng.randn(64);
  auto s = Scheduler::create(lcm_config());
  s->set_timesteps(4);
  std::vector<float> x = rng.randn(64);  // pure noise: x0 is only reached through the model
  size_t draws = 0;
  NoiseSource noise = [&](size_t n) {
    ++draws;
    return rng.randn(n);
  };
  for (size_t i = 0; i < s->model_calls(); ++i) {
    const double a = alphas[size_t(s->timesteps()[i])];
    std::vector<float> eps(x.size());
    for (size_t k = 0; k < x.size(); ++k) eps[k] = float((x[k] - std::sqrt(a) * x0[k]) / std::sqrt(1 - a));
    x = s->step(eps, i, s->scale_model_input(x, i), noise);
  }
  EXPECT_EQ(draws, 3u);  // noise between steps, none after the last
  EXPECT_LE(test::relative_error(x, x0), 1e-5);
}

TEST(Lcm, OneStepIsTheBoundaryConditionFormula) {
  // denoised = c_skip * x + c_out * x0_pred with c_skip = 0.25 / ((10 t)^2 + 0.25),
  // c_out = 10 t / sqrt((10 t)^2 + 0.25), sigma_data 0.5, timestep_scaling 10.
  const auto alphas = sd_alphas_cumprod();
  auto s = Scheduler::create(lcm_config());
  s->set_timesteps(1);
  const double t = 999, a = alphas[999];
  const double c_skip = 0.25 / (9990.0 * 9990.0 + 0.25), c_out = 9990.0 / std::sqrt(9990.0 * 9990.0 + 0.25);
  std::vector<float> x = {0.3f, -1.2f, 2.0f}, eps = {0.1f, 0.4f, -0.7f};
  auto got = s->step(eps, 0, x, nullptr);
  std::vector<float> want(3);
  for (int k = 0; k < 3; ++k)
    want[size_t(k)] = float(c_out * (x[size_t(k)] - std::sqrt(1 - a) * eps[size_t(k)]) / std::sqrt(a) +
                            c_skip * x[size_t(k)]);
  EXPECT_LE(test::relative_error(got, want), 1e-5);
  EXPECT_DOUBLE_EQ(s->timesteps()[0], t);
}

// ---- PNDM with its Runge-Kutta warm-up (skip_prk_steps = false): no golden either ----

TEST(Pndm, RungeKuttaWarmUpScheduleAndOracle) {
  auto c = sd15_config();
  c["skip_prk_steps"] = false;
  auto s = Scheduler::create(c);
  s->set_timesteps(10);
  // 12 Runge-Kutta calls around the last 4 leading timesteps, then plain PLMS on the rest.
  const std::vector<double> want = {901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601,
                                    601, 501, 401, 301, 201, 101, 1};
  EXPECT_EQ(s->timesteps(), want);
  // Every PNDM update is the DDIM transfer with a weighted mean of model outputs whose weights
  // sum to 1, so a model that always returns the true noise eps0 of x_T = sqrt(a) x0 +
  // sqrt(1 - a) eps0 keeps the run on that path down to the last alpha.
  const auto alphas = sd_alphas_cumprod();
  TorchGenerator rng(5);
  const std::vector<float> x0 = rng.randn(32), eps0 = rng.randn(32);
  std::vector<float> x(32);
  const double a_start = alphas[901];
  for (size_t k = 0; k < 32; ++k) x[k] = float(std::sqrt(a_start) * x0[k] + std::sqrt(1 - a_start) * eps0[k]);
  for (size_t i = 0; i < s->model_calls(); ++i) x = s->step(eps0, i, x, nullptr);
  // Final step goes to alphas_cumprod[0] (set_alpha_to_one false): x = sqrt(a0) x0 + sqrt(1-a0) eps.
  std::vector<float> expected(32);
  for (size_t k = 0; k < 32; ++k) expected[k] = float(std::sqrt(alphas[0]) * x0[k] + std::sqrt(1 - alphas[0]) * eps0[k]);
  EXPECT_LE(test::relative_error(x, expected), 1e-5);
}

}  // namespace
