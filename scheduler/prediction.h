// What the model predicts (diffusers' prediction_type) and the conversions every scheduler
// starts from, plus the optional limits on the predicted clean sample x0.
#pragma once
#include <cstddef>
#include <vector>

#include "scheduler/config_reader.h"

namespace sdvk {

enum class Prediction { Epsilon, Sample, Velocity };

// prediction_type: "epsilon" (default), "sample" or "v_prediction".
Prediction read_prediction(const ConfigReader& config);

// Clipping (clip_sample, clip_sample_range) or dynamic thresholding (thresholding,
// dynamic_thresholding_ratio, sample_max_value) of x0; thresholding wins when both are on.
struct X0Limits {
  bool thresholding = false;
  double threshold_ratio = 0.995;
  double threshold_max = 1.0;
  bool clip = false;
  double clip_range = 1.0;

  // Which of the keys the scheduler class has, and its clip_sample default.
  static X0Limits read(const ConfigReader& config, bool has_clip, bool clip_default, bool has_thresholding);
  void apply(std::vector<float>& x0, size_t batch) const;
};

// From a model output at cumulative alpha `alpha_prod_t`: the predicted x0 and noise, float32
// as DDIM / DDPM / LCM compute them (eps may be null when unused).
void alpha_predict(Prediction prediction, const std::vector<float>& model_output, const std::vector<float>& sample,
                   float alpha_prod_t, std::vector<float>* x0, std::vector<float>* eps);

}  // namespace sdvk
