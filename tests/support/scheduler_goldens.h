// Shared by the scheduler tests: the golden cases in tests/data/schedulers (index.json, their
// configs, the stand-in model they were made with), the SD noise schedule in double, and the
// one-line-error expectation.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"

namespace sdvk::test {

inline const std::string kSchedulerGoldens = std::string(SDVK_TEST_DATA) + "/schedulers";

inline nlohmann::json golden_index() {
  std::ifstream f(kSchedulerGoldens + "/index.json");
  if (!f) throw std::runtime_error("missing " + kSchedulerGoldens + "/index.json");
  return nlohmann::json::parse(f);
}

// The config a golden case ran with, as a scheduler_config.json would hold it.
inline nlohmann::json case_config(const nlohmann::json& c) {
  nlohmann::json config = c.at("config");
  config["_class_name"] = c.at("scheduler");
  return config;
}

// The stand-in model the goldens were made with.
inline std::vector<float> toy_model(const std::vector<float>& input, double t) {
  std::vector<float> out(input.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(0.5 * std::tanh(double(input[i])) + 0.001 * t);
  return out;
}

// Expects `make` to throw an Error whose one-line message contains `needle`.
template <typename F>
void expect_error(F make, const std::string& needle) {
  try {
    make();
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

// alphas_cumprod in double, to build exact test inputs: the SD schedule (scaled_linear
// 0.00085..0.012) or diffusers' default linear 0.0001..0.02.
inline std::vector<double> alphas_cumprod(bool scaled_linear = true) {
  std::vector<double> out(1000);
  double running = 1.0;
  const double a = scaled_linear ? std::sqrt(0.00085) : 0.0001, b = scaled_linear ? std::sqrt(0.012) : 0.02;
  for (int i = 0; i < 1000; ++i) {
    const double x = a + (b - a) * i / 999.0;
    running *= 1.0 - (scaled_linear ? x * x : x);
    out[size_t(i)] = running;
  }
  return out;
}
inline std::vector<double> sd_alphas_cumprod() { return alphas_cumprod(true); }

}  // namespace sdvk::test
