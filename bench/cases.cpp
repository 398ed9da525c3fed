// The benchmark cases: the core ops at Stable Diffusion 1.5 shapes (512x512 image, 64x64
// latent, first UNet level: 320 channels, 4096 tokens, 8 heads of 40).
#include <random>

#include "bench/bench.h"
#include "ops/attention.h"
#include "ops/binary.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/group_norm.h"
#include "ops/matmul.h"
#include "ops/permute.h"
#include "ops/unary.h"
#include "ops/upsample_nearest.h"

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
  // 3x3 convolutions, padding 1: a level-1 resnet conv (320 channels on the 64x64 latent),
  // deeper levels of a CFG batch (batch 2: 640 channels at 16x16, 1280 at 8x8 and at 4x4), a
  // stride-2 downsampler of a CFG batch, and the VAE decoder's last level (128 channels at
  // 256x256, a 256-pixel tile or half a 512 image's side).
  struct ConvShape {
    const char* name;
    int64_t n, c, side, stride;
  };
  for (ConvShape cs : {ConvShape{"conv2d 320->320 3x3 64x64", 1, 320, 64, 1},
                       ConvShape{"conv2d 640->640 3x3 16x16 x2", 2, 640, 16, 1},
                       ConvShape{"conv2d 1280->1280 3x3 8x8 x2", 2, 1280, 8, 1},
                       ConvShape{"conv2d 1280->1280 3x3 4x4 x2", 2, 1280, 4, 1},
                       ConvShape{"conv2d 320->320 3x3 stride 2 64x64 x2", 2, 320, 64, 2},
                       ConvShape{"conv2d 128->128 3x3 256x256", 1, 128, 256, 1}}) {
    const ops::Conv2dParams p = ops::conv_params(int(cs.stride), 1);
    Shape xs{cs.n, cs.c, cs.side, cs.side}, ws{cs.c, cs.c, 3, 3};
    Shape ys = ops::conv2d_output_shape(xs, ws, p);
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(xs)), 10));
    auto w = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(ws)), 11));
    auto b = std::make_shared<std::vector<float>>(random_values(size_t(cs.c), 12));
    double flops = 2.0 * double(cs.c * 9) * double(shape_numel(ys));
    cases.push_back({cs.name, flops, false,
                     [&ctx, x, w, b, xs, ws, ys, p](Sequence& s, DType dt) {
                       Tensor tb = Tensor::from_floats(ctx, {ws[0]}, dt, *b);
                       ops::conv2d(s, Tensor::from_floats(ctx, xs, dt, *x), Tensor::from_floats(ctx, ws, dt, *w), &tb,
                                   Tensor::empty(ctx, ys, dt), p);
                     },
                     [x, w, b, xs, ws, p] { ops::ref::conv2d(*x, xs, *w, ws, b.get(), p); }});
  }
  // A level-1 attention projection, [4096 tokens, 320] @ [320, 320]^T + bias, with the weight
  // as checkpoints store it ([N,K]) and as nn::Linear uploads it ([K,N]).
  for (ops::WeightLayout layout : {ops::WeightLayout::OutIn, ops::WeightLayout::InOut}) {
    const int64_t m = 4096, k = 320, n = 320;
    const bool out_in = layout == ops::WeightLayout::OutIn;
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(m * k), 14));
    auto w = std::make_shared<std::vector<float>>(random_values(size_t(n * k), 15));
    auto b = std::make_shared<std::vector<float>>(random_values(size_t(n), 16));
    cases.push_back({out_in ? "linear 4096x320 -> 320, w [N,K]" : "linear 4096x320 -> 320, w [K,N]", 2.0 * m * k * n,
                     false,
                     [&ctx, x, w, b, m, k, n, layout, out_in](Sequence& s, DType dt) {
                       Tensor tb = Tensor::from_floats(ctx, {n}, dt, *b);
                       // Random values either way: the layout changes the access pattern only.
                       Tensor tw = Tensor::from_floats(ctx, out_in ? Shape{n, k} : Shape{k, n}, dt, *w);
                       ops::linear(s, Tensor::from_floats(ctx, {m, k}, dt, *x), tw, &tb,
                                   Tensor::empty(ctx, {m, n}, dt), {}, layout);
                     },
                     [x, w, b, m, k, n] { ops::ref::linear(*x, *w, *b, m, k, n); }});
  }
  // The batched GEMMs inside those Winograd convolutions (36 tile positions, U [Cout,K] @ V [K,
  // tiles]), timed alone: the 128-channel one is most of a VAE decode's time. (The Winograd
  // path runs them in float32 whatever the storage type.)
  struct GemmShape {
    const char* name;
    int64_t batch, m, k, n;
  };
  for (GemmShape g : {GemmShape{"batched_matmul 36x 320x320 @ 320x512", 36, 320, 320, 512},
                      GemmShape{"batched_matmul 36x 128x128 @ 128x4096", 36, 128, 128, 4096}}) {
    auto a = std::make_shared<std::vector<float>>(random_values(size_t(g.batch * g.m * g.k), 17));
    auto b = std::make_shared<std::vector<float>>(random_values(size_t(g.batch * g.k * g.n), 18));
    cases.push_back({g.name, 2.0 * double(g.batch * g.m * g.k * g.n), false,
                     [&ctx, a, b, g](Sequence& s, DType dt) {
                       ops::batched_matmul(s, Tensor::from_floats(ctx, {g.batch, g.m, g.k}, dt, *a),
                                           Tensor::from_floats(ctx, {g.batch, g.k, g.n}, dt, *b), false,
                                           Tensor::empty(ctx, {g.batch, g.m, g.n}, dt));
                     },
                     [a, b, g] { ops::ref::batched_matmul(*a, *b, g.batch, g.m, g.k, g.n, false, 1.0f); }});
  }
  {  // level-1 self-attention: 4096 tokens, 8 heads of 40
    const int64_t t = 4096, heads = 8, d = 40;
    Shape qs{1, t, heads * d};
    auto q = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(qs)), 13));
    double flops = 4.0 * t * t * heads * d;
    cases.push_back({"attention 4096 tokens 8x40", flops, false,
                     [&ctx, q, qs](Sequence& s, DType dt) {
                       Tensor tq = Tensor::from_floats(ctx, qs, dt, *q);
                       ops::attention(s, tq, tq, tq, Tensor::empty(ctx, qs, dt), int(heads));
                     },
                     [q, t, heads, d] { ops::ref::attention(*q, *q, *q, 1, t, t, int(heads), d, false, 0.0f); }});
  }
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
  {  // a resnet adds its time embedding: [2,320,64,64] + [2,320,1,1]
    Shape as{2, 320, 64, 64}, bs{2, 320, 1, 1};
    auto a = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(as)), 2));
    auto b = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(bs)), 3));
    cases.push_back({"add 2x320x64x64 + 2x320x1x1", double(shape_numel(as)) * 2, true,
                     [&ctx, a, b, as, bs](Sequence& s, DType dt) {
                       Tensor ta = Tensor::from_floats(ctx, as, dt, *a), tb = Tensor::from_floats(ctx, bs, dt, *b);
                       ops::binary(s, ops::BinaryOp::Add, ta, tb, Tensor::empty(ctx, as, dt));
                     },
                     [a, b, as, bs] { ops::ref::binary(ops::BinaryOp::Add, *a, as, *b, bs); }});
  }
  {  // the UNet's last upsampler: [2,320,32,32] -> [2,320,64,64]
    Shape xs{2, 320, 32, 32}, ys{2, 320, 64, 64};
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(xs)), 4));
    cases.push_back({"upsample2x 2x320x32x32", double(shape_numel(xs) + shape_numel(ys)), true,
                     [&ctx, x, xs, ys](Sequence& s, DType dt) {
                       ops::upsample_nearest2x(s, Tensor::from_floats(ctx, xs, dt, *x), Tensor::empty(ctx, ys, dt));
                     },
                     [x] { ops::ref::upsample_nearest2x(*x, 2, 320, 32, 32); }});
  }
  {  // a skip connection: cat([2,320,64,64], [2,320,64,64]) on channels
    Shape xs{2, 320, 64, 64}, ys{2, 640, 64, 64};
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(xs)), 5));
    cases.push_back({"concat 2x(2x320x64x64) dim 1", double(shape_numel(ys)) * 2, true,
                     [&ctx, x, xs, ys](Sequence& s, DType dt) {
                       Tensor a = Tensor::from_floats(ctx, xs, dt, *x), b = Tensor::from_floats(ctx, xs, dt, *x);
                       ops::concat(s, {a, b}, 1, Tensor::empty(ctx, ys, dt));
                     },
                     [x, xs] { ops::ref::concat({*x, *x}, {xs, xs}, 1); }});
  }
  // Group norm (32 groups) + SiLU: a resnet's first norm on [1,320,64,64], and the VAE decoder's
  // full-resolution one on [1,128,256,256] (32 long rows, too few to fill a GPU in one pass each).
  struct NormCase {
    int64_t c, hw;
    float eps;
    uint32_t seed;
  };
  for (const NormCase& k : {NormCase{320, 64, 1e-5f, 6}, NormCase{128, 256, 1e-6f, 8}}) {
    Shape xs{1, k.c, k.hw, k.hw};
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(xs)), k.seed));
    auto g = std::make_shared<std::vector<float>>(random_values(size_t(k.c), k.seed + 1));
    std::string name = "group_norm+silu " + std::to_string(k.c) + "x" + std::to_string(k.hw) + "x" +
                       std::to_string(k.hw) + " g32";
    cases.push_back({name, double(shape_numel(xs)) * 2, true,
                     [&ctx, x, g, xs, k](Sequence& s, DType dt) {
                       Tensor tg = Tensor::from_floats(ctx, {k.c}, dt, *g);
                       ops::group_norm(s, Tensor::from_floats(ctx, xs, dt, *x), tg, tg, Tensor::empty(ctx, xs, dt), 32,
                                       k.eps, true);
                     },
                     [x, g, k] { ops::ref::group_norm(*x, *g, *g, 1, k.c, k.hw * k.hw, 32, k.eps, true); }});
  }
  {  // a transformer's input: [2,320,64,64] NCHW -> NHWC tokens
    Shape xs{2, 320, 64, 64};
    auto x = std::make_shared<std::vector<float>>(random_values(size_t(shape_numel(xs)), 10));
    cases.push_back({"permute 2x320x64x64 -> NHWC", double(shape_numel(xs)) * 2, true,
                     [&ctx, x, xs](Sequence& s, DType dt) {
                       ops::permute(s, Tensor::from_floats(ctx, xs, dt, *x), {0, 2, 3, 1},
                                    Tensor::empty(ctx, {2, 64, 64, 320}, dt));
                     },
                     [x, xs] { ops::ref::permute(*x, xs, {0, 2, 3, 1}); }});
  }
  return cases;
}

}  // namespace sdvk::bench
