// img2img support of the schedulers (scheduler/scheduler.h), against diffusers v0.21.4 written
// out by hand (there are no img2img goldens): img2img_first_call against the slices of
// StableDiffusionImg2ImgPipeline.get_timesteps worked out by hand; add_noise against each
// class's formula in double; runs begun mid-schedule (begin_at): the stateless schedulers
// resume the golden full runs (tests/data/schedulers) exactly, the stateful ones restart as
// diffusers' step() does when its loop starts from a sliced schedule (first steps written out
// in double), and all that are exact on the single-point problem land on its endpoint from an
// add_noise'd start.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "scheduler/scheduler.h"
#include "scheduler/torch_rng.h"
#include "tests/support/golden_f32.h"
#include "tests/support/scheduler_goldens.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::test;

namespace {

constexpr double kTol = 1e-5;  // as test_scheduler: float32 against float32 / double references

// The Stable Diffusion 1.5 scheduler_config.json, with "leading" spacing spelled out for the
// classes whose default is linspace: integer timesteps everywhere, so the references below
// read the training tables without interpolation.
nlohmann::json sd15_config() {
  return nlohmann::json::parse(R"({
    "_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false,
    "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null, "clip_sample": false,
    "timestep_spacing": "leading"})");
}

// Per integer timestep in double: alpha_t = sqrt(abar), sigma_t = sqrt(1 - abar), lambda, and
// the k-diffusion sigma sqrt((1 - abar) / abar).
struct At {
  double alpha, sigma, lambda, k_sigma;
};
At at(double t) {
  static const std::vector<double> ac = sd_alphas_cumprod();
  const size_t i = size_t(t);
  At r;
  r.alpha = std::sqrt(ac[i]);
  r.sigma = std::sqrt(1 - ac[i]);
  r.lambda = std::log(r.alpha / r.sigma);
  r.k_sigma = std::sqrt((1 - ac[i]) / ac[i]);
  return r;
}

// The sigma of a fractional Karras timestep: diffusers' _sigma_to_t interpolates log-sigma
// linearly between training timesteps; this is its inverse.
double karras_sigma(double t) {
  const double lo = std::floor(t);
  const double l0 = std::log(at(lo).k_sigma), l1 = std::log(at(lo + 1).k_sigma);
  return std::exp(l0 + (t - lo) * (l1 - l0));
}

// The exact prediction of the single-point problem (data = the one point x0) at integer
// timestep t, for a model input sqrt(a) x0 + sqrt(1 - a) eps.
std::vector<float> oracle(const std::vector<float>& input, double t, const std::vector<float>& x0) {
  const At a = at(t);
  std::vector<float> eps(input.size());
  for (size_t k = 0; k < eps.size(); ++k) eps[k] = float((input[k] - a.alpha * x0[k]) / a.sigma);
  return eps;
}

bool is_sigma_scheduler(const std::string& name) {
  return name == "euler" || name == "euler_a" || name == "heun" || name == "lms";
}

}  // namespace

TEST(SchedulerImg2Img, FirstCallSlicesTheScheduleAsGetTimesteps) {
  struct Want {
    const char* name;
    int steps;
    double strength;
    size_t first;
  };
  // first = t_start * order, t_start = steps - min(int(steps * strength), steps), Python's
  // int truncating the double product: 10 * 0.3 = 3.0000000000000004 -> 3, 10 * 0.7 =
  // 7.000000000000001 -> 7, 100 * 0.29 = 28.999999999999996 -> 28, 100 * 0.57 = 56.99999999999999 -> 56.
  const std::vector<Want> wants = {
      {"ddim", 10, 1.0, 0},    {"ddim", 10, 0.8, 2},    {"ddim", 10, 0.75, 3},  {"ddim", 10, 0.7, 3},
      {"ddim", 10, 0.5, 5},    {"ddim", 10, 0.3, 7},    {"ddim", 10, 0.15, 9},  {"ddim", 10, 0.05, 10},
      {"ddim", 10, 0.0, 10},   {"ddim", 100, 0.29, 72}, {"ddim", 100, 0.57, 44}, {"euler_a", 25, 0.6, 10},
      {"dpmpp_2m", 10, 0.6, 4}, {"unipc", 10, 0.35, 7}, {"lms", 20, 0.5, 10},   {"lcm", 4, 0.5, 2},
      // heun: order 2 over its 2 * steps - 1 calls; call 2 k is the predictor of step k.
      {"heun", 10, 1.0, 0},    {"heun", 10, 0.5, 10},   {"heun", 10, 0.75, 6},  {"heun", 10, 0.1, 18},
      {"heun", 10, 0.0, 19},
      // pndm: order 1 over steps + 1 calls [t0, t1, t1, t2, ...]; at strength 0 diffusers'
      // slice still holds the last call.
      {"pndm", 10, 1.0, 0},    {"pndm", 10, 0.5, 5},    {"pndm", 10, 0.0, 10},  {"pndm", 1, 0.5, 1},
  };
  for (const auto& w : wants) {
    auto s = Scheduler::create(sd15_config(), w.name);
    s->set_timesteps(w.steps);
    EXPECT_EQ(s->img2img_first_call(w.steps, w.strength), w.first) << w.name << " " << w.steps << " " << w.strength;
  }
  auto heun = Scheduler::create(sd15_config(), "heun");
  heun->set_timesteps(10);
  EXPECT_EQ(heun->model_calls(), 19u);
  auto pndm = Scheduler::create(sd15_config(), "pndm");
  pndm->set_timesteps(10);
  EXPECT_EQ(pndm->model_calls(), 11u);

  // DPM-Solver with Karras sigmas drops repeated timesteps, so a run can have fewer calls than
  // steps; diffusers still slices by the requested steps, past the end at low strength.
  auto karras = Scheduler::create(sd15_config(), "dpmpp_2m_karras");
  int steps = 0;
  for (int n : {50, 100, 200, 500, 1000}) {
    karras->set_timesteps(n);
    if (karras->model_calls() < size_t(n)) {
      steps = n;
      break;
    }
  }
  ASSERT_GT(steps, 0) << "no step count with repeated Karras timesteps";
  const size_t calls = karras->model_calls();
  EXPECT_EQ(karras->img2img_first_call(steps, 0.0), calls);
  const int init = steps - int(calls - 1);  // denoising steps that start at the last call
  EXPECT_EQ(karras->img2img_first_call(steps, (init + 0.5) / steps), calls - 1);
  EXPECT_EQ(karras->img2img_first_call(steps, (init - 0.5) / steps), calls);
}

TEST(SchedulerImg2Img, MisuseIsAnError) {
  auto s = Scheduler::create(sd15_config(), "ddim");
  const std::vector<float> x(8, 0.5f);
  expect_error([&] { s->img2img_first_call(10, 0.5); }, "before set_timesteps");
  expect_error([&] { s->begin_at(0); }, "before set_timesteps");
  expect_error([&] { s->add_noise(x, x, 0); }, "call 0");
  s->set_timesteps(10);
  expect_error([&] { s->img2img_first_call(10, -0.01); }, "strength");
  expect_error([&] { s->img2img_first_call(10, 1.01); }, "strength");
  expect_error([&] { s->img2img_first_call(10, std::nan("")); }, "strength");
  expect_error([&] { s->img2img_first_call(9, 0.5); }, "planned for 10");
  expect_error([&] { s->add_noise(x, x, 10); }, "call 10");
  expect_error([&] { s->add_noise(x, std::vector<float>(7), 0); }, "7 noise values");
  expect_error([&] { s->begin_at(11); }, "call 11");
  s->begin_at(10);  // nothing left to run: allowed, and no step follows
  expect_error([&] { s->step(x, 9, x, nullptr); }, "call 9");
  s->begin_at(4);
  expect_error([&] { s->step(x, 3, x, nullptr); }, "call 3");
  s->step(x, 4, x, nullptr);

  auto heun = Scheduler::create(sd15_config(), "heun");
  heun->set_timesteps(10);
  expect_error([&] { heun->begin_at(3); }, "corrector");
  heun->begin_at(4);
  heun->begin_at(19);
}

TEST(SchedulerImg2Img, AddNoiseIsEachClassFormula) {
  TorchGenerator rng(21);
  const std::vector<float> x = rng.randn(64), n = rng.randn(64);
  for (const auto& name : Scheduler::names()) {
    auto s = Scheduler::create(sd15_config(), name);
    s->set_timesteps(10);
    for (size_t call = 0; call < s->model_calls(); ++call) {
      const double t = s->timesteps()[call];
      ASSERT_EQ(t, std::floor(t)) << name;  // leading spacing: training timesteps, no interpolation
      const At a = at(t);
      std::vector<float> want(x.size());
      for (size_t k = 0; k < x.size(); ++k)
        want[k] = float(is_sigma_scheduler(name) ? x[k] + n[k] * a.k_sigma : a.alpha * x[k] + a.sigma * n[k]);
      EXPECT_LE(test::relative_error(s->add_noise(x, n, call), want), 2e-6) << name << " call " << call;
    }
  }
  // Karras sigmas: fractional timesteps, sigma found from the timestep.
  for (const char* name : {"euler", "heun", "lms"}) {
    auto config = sd15_config();
    config["use_karras_sigmas"] = true;
    auto s = Scheduler::create(config, name);
    s->set_timesteps(10);
    for (size_t call = 0; call < s->model_calls(); ++call) {
      const double sigma = karras_sigma(s->timesteps()[call]);
      std::vector<float> want(x.size());
      for (size_t k = 0; k < x.size(); ++k) want[k] = float(x[k] + n[k] * sigma);
      EXPECT_LE(test::relative_error(s->add_noise(x, n, call), want), 1e-5) << name << " karras call " << call;
    }
  }
}

TEST(SchedulerImg2Img, AddNoiseRoundsAsTorchFloat32) {
  // With given betas the float32 alphas_cumprod is known exactly (torch: 1 - beta in float32,
  // cumprod accumulated in double), so torch's float32 result is known bit for bit:
  // sqrt(a) * x + sqrt(1 - a) * n, each product and the sum rounded to float32.
  std::vector<double> betas(1000);
  for (size_t i = 0; i < betas.size(); ++i) betas[i] = 0.0001 + 0.0199 * double(i) / 999.0;
  auto config = sd15_config();
  config["_class_name"] = "DDIMScheduler";
  config["trained_betas"] = betas;
  auto s = Scheduler::create(config);
  s->set_timesteps(20);
  std::vector<float> acp(betas.size());
  double running = 1.0;
  for (size_t i = 0; i < acp.size(); ++i) {
    running *= double(1.0f - float(betas[i]));
    acp[i] = float(running);
  }
  TorchGenerator rng(22);
  const std::vector<float> x = rng.randn(256), n = rng.randn(256);
  for (size_t call : {size_t(0), size_t(7), size_t(19)}) {
    const float a = acp[size_t(s->timesteps()[call])];
    const float keep = std::sqrt(a), add = std::sqrt(1.0f - a);
    const auto got = s->add_noise(x, n, call);
    for (size_t k = 0; k < x.size(); ++k) {
      const volatile float kept = keep * x[k], added = add * n[k];  // no fused multiply-add
      ASSERT_EQ(got[k], float(kept + added)) << "call " << call << " element " << k;
    }
  }
}

TEST(SchedulerImg2Img, StatelessSchedulersResumeTheGoldenRun) {
  // DDIM, DDPM, Euler and Euler ancestral keep no state between steps but the step index,
  // which diffusers finds from the first timestep; Heun none between a corrector and the next
  // predictor. Begun at call k from the golden x_{k-1}, each reproduces the golden run from
  // there, on a fresh scheduler and on one that has just run the whole schedule.
  int cases = 0;
  for (const auto& c : golden_index()) {
    const std::string cls = c.at("scheduler");
    if (cls != "DDIMScheduler" && cls != "DDPMScheduler" && cls != "EulerDiscreteScheduler" &&
        cls != "EulerAncestralDiscreteScheduler" && cls != "HeunDiscreteScheduler")
      continue;
    const std::string file = c.at("file");
    test::GoldenF32 golden(test::kSchedulerGoldens + "/" + file);
    const size_t calls = c.at("model_calls"), draws = c.at("noise_draws");
    ASSERT_TRUE(draws == 0 || draws == calls) << file;  // one draw per call when any
    const size_t step = cls == "HeunDiscreteScheduler" ? 2 : 1;
    const int steps = c.at("steps");
    for (size_t k : {step, (calls / 2) / step * step, (calls - 1) / step * step}) {
      for (bool reused : {false, true}) {
        auto s = Scheduler::create(case_config(c));
        s->set_timesteps(steps);
        if (reused) {  // a whole run first (its outputs are the golden's, its noise anything)
          std::vector<float> x = golden.at("x_T");
          for (size_t i = 0; i < calls; ++i)
            x = s->step(golden.at("model_output_" + std::to_string(i)), i, x,
                        [](size_t count) { return std::vector<float>(count, 0.25f); });
        }
        s->begin_at(k);
        std::vector<float> x = golden.at("x_" + std::to_string(k - 1));
        NoiseSource noise = nullptr;
        size_t drawn = 0;
        if (draws) noise = [&](size_t) { return golden.at("noise_" + std::to_string(k + drawn++)); };
        for (size_t i = k; i < calls; ++i) {
          const std::string label = file + " begun at " + std::to_string(k) + (reused ? " (reused)" : "") +
                                    ", call " + std::to_string(i);
          EXPECT_LE(test::relative_error(s->scale_model_input(x, i), golden.at("model_input_" + std::to_string(i))),
                    kTol)
              << label;
          x = s->step(golden.at("model_output_" + std::to_string(i)), i, x, noise);
          EXPECT_LE(test::relative_error(x, golden.at("x_" + std::to_string(i))), kTol) << label;
        }
        if (draws) {
          EXPECT_EQ(drawn, calls - k) << file;
        }
      }
    }
    ++cases;
  }
  EXPECT_EQ(cases, 18);
}

TEST(SchedulerImg2Img, StatefulSchedulersBegunAtZeroRepeatTheGoldenRun) {
  // begin_at(0) after a whole run clears the history exactly as set_timesteps does.
  for (const auto& c : golden_index()) {
    const std::string cls = c.at("scheduler");
    if (cls != "PNDMScheduler" && cls != "LMSDiscreteScheduler" && cls != "DPMSolverMultistepScheduler" &&
        cls != "UniPCMultistepScheduler")
      continue;
    const std::string file = c.at("file");
    test::GoldenF32 golden(test::kSchedulerGoldens + "/" + file);
    const size_t calls = c.at("model_calls");
    auto s = Scheduler::create(case_config(c));
    s->set_timesteps(c.at("steps").get<int>());
    for (int pass = 0; pass < 2; ++pass) {
      s->begin_at(0);
      std::vector<float> x = golden.at("x_T");
      for (size_t i = 0; i < calls; ++i) {
        x = s->step(golden.at("model_output_" + std::to_string(i)), i, x, nullptr);
        EXPECT_LE(test::relative_error(x, golden.at("x_" + std::to_string(i))), kTol)
            << file << " pass " << pass << " call " << i;
      }
    }
  }
}

namespace {

// The DDIM (eta 0) / first-order DPM-Solver++ step from t to prev of an epsilon model, in double.
std::vector<float> ddim_step(const std::vector<float>& x, const std::vector<float>& eps, double t, double prev) {
  const At s = at(t), p = at(prev);
  std::vector<float> out(x.size());
  for (size_t k = 0; k < x.size(); ++k) {
    const double x0 = (x[k] - s.sigma * eps[k]) / s.alpha;
    out[k] = float(p.alpha * x0 + p.sigma * eps[k]);
  }
  return out;
}

// Runs a whole schedule with the golden model outputs (or `outputs` where not golden), so
// that a mid-schedule begin_at afterwards must clear real history.
void run_whole(Scheduler& s, const std::vector<float>& x_T, const std::function<std::vector<float>(size_t)>& output) {
  std::vector<float> x = x_T;
  for (size_t i = 0; i < s.model_calls(); ++i) x = s.step(output(i), i, x, nullptr);
}

std::vector<double> predicted_x0(const std::vector<float>& x, const std::vector<float>& eps, double t) {
  const At a = at(t);
  std::vector<double> x0(x.size());
  for (size_t k = 0; k < x.size(); ++k) x0[k] = (x[k] - a.sigma * eps[k]) / a.alpha;
  return x0;
}

}  // namespace

TEST(SchedulerImg2Img, DpmSolverBegunMidwayStartsAtFirstOrder) {
  // diffusers' lower_order_nums counts steps taken: the first step is DPM-Solver++ 1 (= DDIM),
  // the second DPM-Solver++(2M) with the midpoint update from the two outputs it has:
  //   x_t = sigma_t / sigma_s0 x - alpha_t (e^-h - 1) D0 - 1/2 alpha_t (e^-h - 1) D1,
  //   D0 = m0, D1 = (m0 - m1) / r0, r0 = (lambda_s0 - lambda_s1) / h, h = lambda_t - lambda_s0.
  for (const char* file : {"dpmpp_2m_10.safetensors", "dpmpp_2m_karras_25.safetensors"}) {
    nlohmann::json c;
    for (const auto& g : golden_index())
      if (g.at("file") == file) c = g;
    test::GoldenF32 golden(test::kSchedulerGoldens + "/" + std::string(file));
    auto s = Scheduler::create(case_config(c));
    s->set_timesteps(c.at("steps").get<int>());
    const auto& ts = s->timesteps();
    run_whole(*s, golden.at("x_T"), [&](size_t i) { return golden.at("model_output_" + std::to_string(i)); });
    const size_t k = 3;
    s->begin_at(k);
    const std::vector<float> x = golden.at("x_" + std::to_string(k - 1));
    const std::vector<float>& e0 = golden.at("model_output_" + std::to_string(k));
    const std::vector<float>& e1 = golden.at("model_output_" + std::to_string(k + 1));
    const auto x1 = s->step(e0, k, x, nullptr);
    EXPECT_LE(test::relative_error(x1, ddim_step(x, e0, ts[k], ts[k + 1])), kTol) << file;
    // The whole run's second-order step from the same latent is another step.
    EXPECT_GT(test::relative_error(x1, golden.at("x_" + std::to_string(k))), 1e-4) << file;

    const auto x2 = s->step(e1, k + 1, x1, nullptr);
    const At s1 = at(ts[k]), s0 = at(ts[k + 1]), t = at(ts[k + 2]);
    const double h = t.lambda - s0.lambda, r0 = (s0.lambda - s1.lambda) / h;
    const auto m1 = predicted_x0(x, e0, ts[k]), m0 = predicted_x0(x1, e1, ts[k + 1]);
    std::vector<float> want(x.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const double d1 = (m0[i] - m1[i]) / r0;
      want[i] = float(t.sigma / s0.sigma * x1[i] - t.alpha * std::expm1(-h) * m0[i] -
                      0.5 * t.alpha * std::expm1(-h) * d1);
    }
    EXPECT_LE(test::relative_error(x2, want), kTol) << file;
  }
}

TEST(SchedulerImg2Img, UniPcBegunMidwayHasNoCorrectorOnItsFirstStep) {
  // diffusers: no last_sample yet, so no corrector, and a first-order predictor (= DDIM).
  // Second step: UniC-1 (rho 1/2) corrects the first step with the new output, then UniP-2
  // (rho 1/2) predicts; bh2, x0 prediction, with hh = -h, phi = e^hh - 1 = B(h):
  //   UniC: x_c = sigma_t / sigma_s0 x_s0 - alpha_t phi m0 - alpha_t phi * 1/2 (m_t - m0)
  //   UniP: x_u = sigma_u / sigma_t x_c - alpha_u phi' m_t - alpha_u phi' * 1/2 (m0 - m_t) / r,
  //         r = (lambda_s0 - lambda_t) / h'.
  nlohmann::json c;
  for (const auto& g : golden_index())
    if (g.at("file") == "unipc_10.safetensors") c = g;
  test::GoldenF32 golden(test::kSchedulerGoldens + "/unipc_10.safetensors");
  auto s = Scheduler::create(case_config(c));
  s->set_timesteps(10);
  const auto& ts = s->timesteps();
  run_whole(*s, golden.at("x_T"), [&](size_t i) { return golden.at("model_output_" + std::to_string(i)); });
  const size_t k = 4;
  s->begin_at(k);
  const std::vector<float> x = golden.at("x_" + std::to_string(k - 1));
  const std::vector<float>& e0 = golden.at("model_output_" + std::to_string(k));
  const std::vector<float>& e1 = golden.at("model_output_" + std::to_string(k + 1));
  const auto x1 = s->step(e0, k, x, nullptr);
  EXPECT_LE(test::relative_error(x1, ddim_step(x, e0, ts[k], ts[k + 1])), kTol);
  EXPECT_GT(test::relative_error(x1, golden.at("x_" + std::to_string(k))), 1e-4);

  const auto x2 = s->step(e1, k + 1, x1, nullptr);
  const At a0 = at(ts[k]), a1 = at(ts[k + 1]), a2 = at(ts[k + 2]);
  const auto m0 = predicted_x0(x, e0, ts[k]), mt = predicted_x0(x1, e1, ts[k + 1]);
  const double h = a1.lambda - a0.lambda, phi = std::expm1(-h);
  const double hu = a2.lambda - a1.lambda, phiu = std::expm1(-hu), r = (a0.lambda - a1.lambda) / hu;
  std::vector<float> want(x.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const double xc = a1.sigma / a0.sigma * x[i] - a1.alpha * phi * m0[i] - a1.alpha * phi * 0.5 * (mt[i] - m0[i]);
    want[i] = float(a2.sigma / a1.sigma * xc - a2.alpha * phiu * mt[i] - a2.alpha * phiu * 0.5 * (m0[i] - mt[i]) / r);
  }
  EXPECT_LE(test::relative_error(x2, want), kTol);
}

namespace {

// Integral over [a, b] of the Lagrange basis polynomial `j` through `nodes`: composite Simpson
// (exact for these cubics up to rounding; an independent rule from the scheduler's).
double lagrange_integral(const std::vector<double>& nodes, size_t j, double a, double b) {
  auto basis = [&](double tau) {
    double p = 1;
    for (size_t m = 0; m < nodes.size(); ++m)
      if (m != j) p *= (tau - nodes[m]) / (nodes[j] - nodes[m]);
    return p;
  };
  const int n = 64;
  const double h = (b - a) / n;
  double sum = basis(a) + basis(b);
  for (int i = 1; i < n; ++i) sum += (i % 2 ? 4 : 2) * basis(a + i * h);
  return sum * h / 3;
}

}  // namespace

TEST(SchedulerImg2Img, LmsBegunMidwayUsesTheDerivativesItHas) {
  // diffusers' LMS takes the order from the step index (min(index + 1, 4)) but zips the
  // coefficients with the derivatives it holds: begun at call k >= 3, the first step is
  // x + c0 d with c0 the order-4 weight of the newest derivative, the second x + c0' d1 + c1' d0.
  nlohmann::json c;
  for (const auto& g : golden_index())
    if (g.at("file") == "lms_10.safetensors") c = g;
  test::GoldenF32 golden(test::kSchedulerGoldens + "/lms_10.safetensors");
  auto s = Scheduler::create(case_config(c));
  s->set_timesteps(10);
  std::vector<double> sigma;
  for (double t : s->timesteps()) sigma.push_back(at(t).k_sigma);
  sigma.push_back(0.0);
  run_whole(*s, golden.at("x_T"), [&](size_t i) { return golden.at("model_output_" + std::to_string(i)); });
  const size_t k = 5;
  s->begin_at(k);
  std::vector<float> x = golden.at("x_" + std::to_string(k - 1));
  std::vector<std::vector<float>> d;  // epsilon model: the derivative is the output
  for (size_t i = k; i < k + 2; ++i) {
    const std::vector<float>& out = golden.at("model_output_" + std::to_string(i));
    d.push_back(out);
    const std::vector<double> nodes = {sigma[i], sigma[i - 1], sigma[i - 2], sigma[i - 3]};
    std::vector<float> want(x.size());
    for (size_t m = 0; m < want.size(); ++m) {
      double v = x[m];
      for (size_t back = 0; back < d.size(); ++back)
        v += lagrange_integral(nodes, back, sigma[i], sigma[i + 1]) * d[d.size() - 1 - back][m];
      want[m] = float(v);
    }
    if (i == k) {  // not the plain Euler step a one-derivative method would take
      std::vector<float> euler(x.size());
      for (size_t m = 0; m < x.size(); ++m) euler[m] = float(x[m] + (sigma[i + 1] - sigma[i]) * out[m]);
      EXPECT_GT(test::relative_error(want, euler), 1e-3);
    }
    x = s->step(out, i, x, nullptr);
    EXPECT_LE(test::relative_error(x, want), kTol) << "call " << i;
  }
}

TEST(SchedulerImg2Img, PndmBegunMidwayWarmsUpAgain) {
  // diffusers' counter counts steps taken: from call k (timestep t = timesteps[k]) a plain
  // step t -> t - r with e_k, then the step redone from the same latent t -> t - r with
  // (e_k + e_k+1) / 2 (the timestep of call k + 1 is t - r), then (3 e_k+2 - e_k) / 2 from
  // timesteps[k + 2] down by r (ets holds e_k, e_k+2: the redo adds nothing). r = 1000 / steps.
  auto s = Scheduler::create(sd15_config(), "pndm");
  s->set_timesteps(10);
  const auto& ts = s->timesteps();
  const size_t k = 4;
  const double r = 100;
  ASSERT_EQ(ts[k + 1], ts[k] - r);
  TorchGenerator rng(23);
  run_whole(*s, rng.randn(64), [&](size_t) { return rng.randn(64); });
  s->begin_at(k);
  // The PNDM transfer (formula 9 of Liu et al.) equals the DDIM step for the same eps.
  const std::vector<float> x = rng.randn(64);
  std::vector<std::vector<float>> e;
  for (int i = 0; i < 3; ++i) e.push_back(rng.randn(64));
  auto mix = [](const std::vector<float>& a, double wa, const std::vector<float>& b, double wb) {
    std::vector<float> out(a.size());
    for (size_t i = 0; i < a.size(); ++i) out[i] = float(wa * a[i] + wb * b[i]);
    return out;
  };
  const auto x1 = s->step(e[0], k, x, nullptr);
  EXPECT_LE(test::relative_error(x1, ddim_step(x, e[0], ts[k], ts[k] - r)), kTol);
  const auto x2 = s->step(e[1], k + 1, x1, nullptr);
  EXPECT_LE(test::relative_error(x2, ddim_step(x, mix(e[0], 0.5, e[1], 0.5), ts[k], ts[k] - r)), kTol);
  const auto x3 = s->step(e[2], k + 2, x2, nullptr);
  EXPECT_LE(test::relative_error(x3, ddim_step(x2, mix(e[2], 1.5, e[0], -0.5), ts[k + 2], ts[k + 2] - r)), kTol);
}

TEST(SchedulerImg2Img, BegunFromAddNoiseTheSinglePointProblemEndsAtItsPoint) {
  // Data = one point x0 and a model that knows it: add_noise(x0, e, k) lies on the exact
  // path at call k's noise level, and every scheduler exact on the problem (see
  // test_scheduler) must walk it to x0 (alpha_0 x0 + sigma_0 e for DPM-Solver and UniPC,
  // which stop at timestep 0). A wrong sigma or timestep in add_noise, or a stale history,
  // moves the endpoint by O(1). (Not LMS and PNDM: begun midway diffusers' LMS weights its
  // first derivatives with higher-order coefficients, and diffusers' PNDM redo step leaves
  // the latent one timestep above the next call's.)
  TorchGenerator rng(24);
  std::vector<float> x0 = rng.randn(64);
  for (auto& v : x0) v = 0.8f * std::tanh(v);
  const std::vector<float> e = rng.randn(64);
  for (const auto& name : Scheduler::names()) {
    if (name == "lms" || name == "pndm") continue;
    for (double strength : {0.6, 0.3}) {
      auto config = sd15_config();
      config["set_alpha_to_one"] = true;
      auto s = Scheduler::create(config, name);
      s->set_timesteps(10);
      const size_t k = s->img2img_first_call(10, strength);
      ASSERT_LT(k, s->model_calls());
      std::vector<float> x = s->add_noise(x0, e, k);
      s->begin_at(k);
      NoiseSource noise = [&](size_t n) { return rng.randn(n); };
      for (size_t i = k; i < s->model_calls(); ++i)
        x = s->step(oracle(s->scale_model_input(x, i), s->timesteps()[i], x0), i, x, noise);
      std::vector<float> endpoint = x0;
      if (name == "dpmpp_2m" || name == "dpmpp_2m_karras" || name == "unipc") {
        const At a = at(0);
        for (size_t m = 0; m < x0.size(); ++m) endpoint[m] = float(a.alpha * x0[m] + a.sigma * e[m]);
      }
      EXPECT_LE(test::relative_error(x, endpoint), 2e-5) << name << " strength " << strength << " from call " << k;
    }
  }
}
