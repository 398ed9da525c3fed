#include "clip/zero_shot.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdvk {
namespace {

void normalise(float* v, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += double(v[i]) * v[i];
  const float inv = ss > 0 ? float(1.0 / std::sqrt(ss)) : 0.0f;
  for (int64_t i = 0; i < n; i++) v[i] *= inv;
}

}  // namespace

std::string fill_template(const std::string& tmpl, const std::string& label) {
  size_t at = tmpl.find("{}");
  if (at == std::string::npos) throw Error("template \"" + tmpl + "\" has no {} for the label");
  return tmpl.substr(0, at) + label + tmpl.substr(at + 2);
}

std::vector<float> zero_shot_weights(const ClipScorer& scorer, const std::vector<std::string>& labels,
                                     const std::vector<std::string>& templates) {
  if (labels.empty() || templates.empty()) throw Error("zero-shot: no labels or no templates");
  const int64_t P = scorer.projection_dim(), T = int64_t(templates.size());
  std::vector<std::string> texts;
  for (auto& label : labels)
    for (auto& t : templates) texts.push_back(fill_template(t, label));
  std::vector<float> e = scorer.embed_texts(texts);  // [labels * T, P]
  std::vector<float> w(labels.size() * size_t(P), 0.0f);
  for (size_t l = 0; l < labels.size(); l++) {
    for (int64_t t = 0; t < T; t++) {
      float* row = e.data() + (int64_t(l) * T + t) * P;
      normalise(row, P);
      for (int64_t k = 0; k < P; k++) w[l * size_t(P) + size_t(k)] += row[k];
    }
    normalise(w.data() + l * size_t(P), P);
  }
  return w;
}

std::vector<float> zero_shot_probabilities(const std::vector<float>& image_embeds, const std::vector<float>& weights,
                                           int64_t P, float logit_scale) {
  const int64_t N = int64_t(image_embeds.size()) / P, L = int64_t(weights.size()) / P;
  std::vector<float> img = image_embeds, out(size_t(N * L));
  for (int64_t i = 0; i < N; i++) {
    float* a = img.data() + i * P;
    normalise(a, P);
    std::vector<double> logits(static_cast<size_t>(L));
    for (int64_t l = 0; l < L; l++) {
      double dot = 0;
      for (int64_t k = 0; k < P; k++) dot += double(a[k]) * weights[size_t(l * P + k)];
      logits[size_t(l)] = double(logit_scale) * dot;
    }
    const double hi = *std::max_element(logits.begin(), logits.end());  // stable softmax
    double sum = 0;
    for (double& x : logits) sum += (x = std::exp(x - hi));
    for (int64_t l = 0; l < L; l++) out[size_t(i * L + l)] = float(logits[size_t(l)] / sum);
  }
  return out;
}

}  // namespace sdvk
