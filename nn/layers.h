// The leaf modules of torch.nn that checkpoints store, each holding its tensors under their
// checkpoint names (weight, bias) and recording its one op. The block modules of this folder are
// built from them with load(): every tensor is fetched from nn::Params where the module is
// loaded, with its expected shape, so a missing tensor or a wrong shape is an Error naming it.
//   nn::Conv2d conv_in = nn::Conv2d::load(p.at("conv_in"), 320, 4, 3);  // weight [320,4,3,3], bias [320]
#pragma once
#include <cstdint>

#include "nn/params.h"
#include "ops/conv2d.h"
#include "ops/matmul.h"
#include "vk/sequence.h"

namespace sdvk::nn {

struct Linear {  // nn.Linear
  // [in,out]: the checkpoint's [out,in] transposed at upload (ops::WeightLayout::InOut, the
  // faster layout for the CPU kernels); [out] (undefined when bias=False).
  Tensor weight, bias;
  static Linear load(const Params& p, int64_t out, int64_t in, bool bias = true);
  int64_t in_features() const { return weight.dim(0); }
  int64_t out_features() const { return weight.dim(1); }
  // y [...,out] = x [...,in] @ weight + bias (the checkpoint's x @ W^T), then the epilogue
  // (activation, residual).
  void forward(Sequence& s, const Tensor& x, const Tensor& y, const ops::Epilogue& ep = {}) const;
};

struct Conv2d {  // nn.Conv2d
  Tensor weight, bias;  // [out,in,k,k], [out]
  static Conv2d load(const Params& p, int64_t out, int64_t in, int64_t kernel);
  // y = conv(x) + bias, then the activation of `cp`, then + residual (fused in the kernel).
  void forward(Sequence& s, const Tensor& x, const Tensor& y, const ops::Conv2dParams& cp,
               const Tensor* residual = nullptr) const;
};

struct LayerNorm {  // nn.LayerNorm over the last dim
  Tensor weight, bias;  // [C], [C]
  static LayerNorm load(const Params& p, int64_t width);
  void forward(Sequence& s, const Tensor& x, const Tensor& y, float eps) const;
};

struct GroupNorm {  // nn.GroupNorm
  Tensor weight, bias;  // [C], [C]
  static GroupNorm load(const Params& p, int64_t channels);
  // silu: SiLU fused after the norm (diffusers' norm -> nonlinearity pairs).
  void forward(Sequence& s, const Tensor& x, const Tensor& y, int groups, float eps, bool silu) const;
};

}  // namespace sdvk::nn
