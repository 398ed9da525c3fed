#include "scheduler/prediction.h"

#include <algorithm>
#include <cmath>

#include "scheduler/noise_schedule.h"

namespace sdvk {

Prediction read_prediction(const ConfigReader& config) {
  const std::string p = config.choice("prediction_type", "epsilon", {"epsilon", "sample", "v_prediction"});
  if (p == "epsilon") return Prediction::Epsilon;
  if (p == "sample") return Prediction::Sample;
  return Prediction::Velocity;
}

X0Limits X0Limits::read(const ConfigReader& config, bool has_clip, bool clip_default, bool has_thresholding) {
  X0Limits limits;
  if (has_clip) {
    limits.clip = config.flag("clip_sample", clip_default);
    limits.clip_range = config.number("clip_sample_range", 1.0, 1e-6, 1e6);
  }
  if (has_thresholding) {
    limits.thresholding = config.flag("thresholding", false);
    limits.threshold_ratio = config.number("dynamic_thresholding_ratio", 0.995, 0.0, 1.0);
    limits.threshold_max = config.number("sample_max_value", 1.0, 1e-6, 1e6);
  }
  return limits;
}

void X0Limits::apply(std::vector<float>& x0, size_t batch) const {
  if (thresholding) {
    dynamic_threshold(x0, batch, threshold_ratio, threshold_max);
  } else if (clip) {
    const float r = float(clip_range);
    for (auto& v : x0) v = std::min(std::max(v, -r), r);
  }
}

void alpha_predict(Prediction prediction, const std::vector<float>& model_output, const std::vector<float>& sample,
                   float alpha_prod_t, std::vector<float>* x0, std::vector<float>* eps) {
  const float a = std::sqrt(alpha_prod_t), b = std::sqrt(1.0f - alpha_prod_t);
  const size_t n = sample.size();
  x0->resize(n);
  if (eps) eps->resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float s = sample[i], m = model_output[i];
    if (prediction == Prediction::Epsilon) {
      (*x0)[i] = (s - b * m) / a;
      if (eps) (*eps)[i] = m;
    } else if (prediction == Prediction::Sample) {
      (*x0)[i] = m;
      if (eps) (*eps)[i] = (s - a * m) / b;
    } else {
      (*x0)[i] = a * s - b * m;
      if (eps) (*eps)[i] = a * m + b * s;
    }
  }
}

}  // namespace sdvk
