#include "nn/layers.h"

#include "ops/group_norm.h"
#include "ops/layer_norm.h"

namespace sdvk::nn {

Linear Linear::load(const Params& p, int64_t out, int64_t in, bool bias) {
  Linear l;
  l.weight = p.get_transposed("weight", {out, in});
  if (bias) l.bias = p.get("bias", {out});
  return l;
}

void Linear::forward(Sequence& s, const Tensor& x, const Tensor& y, const ops::Epilogue& ep) const {
  ops::linear(s, x, weight, bias.defined() ? &bias : nullptr, y, ep, ops::WeightLayout::InOut);
}

Conv2d Conv2d::load(const Params& p, int64_t out, int64_t in, int64_t kernel) {
  return {p.get("weight", {out, in, kernel, kernel}), p.get("bias", {out})};
}

void Conv2d::forward(Sequence& s, const Tensor& x, const Tensor& y, const ops::Conv2dParams& cp,
                     const Tensor* residual) const {
  ops::conv2d(s, x, weight, &bias, y, cp, residual);
}

LayerNorm LayerNorm::load(const Params& p, int64_t width) { return {p.get("weight", {width}), p.get("bias", {width})}; }

void LayerNorm::forward(Sequence& s, const Tensor& x, const Tensor& y, float eps) const {
  ops::layer_norm(s, x, weight, bias, y, eps);
}

GroupNorm GroupNorm::load(const Params& p, int64_t channels) {
  return {p.get("weight", {channels}), p.get("bias", {channels})};
}

void GroupNorm::forward(Sequence& s, const Tensor& x, const Tensor& y, int groups, float eps, bool silu) const {
  ops::group_norm(s, x, weight, bias, y, groups, eps, silu);
}

}  // namespace sdvk::nn
