// The benchmark cases: the core ops at Stable Diffusion 1.5 shapes (512x512 image, 64x64
// latent, first UNet level: 320 channels, 4096 tokens, 8 heads of 40).
#include <random>

#include "bench/bench.h"
#include "ops/unary.h"

namespace sdvk::bench {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace

std::vector<Case> sd15_cases(Context& ctx) {
  std::vector<Case> cases;
  {  // SiLU over a resnet's hidden states [2,320,64,64]
    int64_t n = 2 * 320 * 64 * 64;
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(n), 1));
    cases.push_back({"silu 2x320x64x64", double(n) * 2, true,
                     [&ctx, x, n](Sequence& s, DType dt) {
                       Tensor tx = Tensor::from_floats(ctx, {n}, dt, *x), ty = Tensor::empty(ctx, {n}, dt);
                       ops::unary(s, ops::Activation::SiLU, tx, ty);
                     },
                     [x] { ops::ref::unary(ops::Activation::SiLU, *x); }});
  }
  return cases;
}

}  // namespace sdvk::bench
