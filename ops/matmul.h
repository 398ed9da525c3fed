// Linear layers and batched matrix products, float32 or float16 storage, sums in float32.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "ops/unary.h"
#include "vk/sequence.h"

namespace sdvk::ops {

// What linear() applies to each output after the bias: the activation, then the residual.
struct Epilogue {
  const Tensor* residual = nullptr;  // same shape as y, added last; may be y itself
  bool has_activation = false;
  Activation activation = Activation::SiLU;
};

// How a linear layer's weight is laid out on the device.
enum class WeightLayout {
  OutIn,  // [N, K], as checkpoints store nn.Linear
  InOut,  // [K, N], transposed at upload (nn::Linear): the CPU kernel family then reads b along
          // n, 1.6x (float32) to 1.9x (float16) faster on lavapipe (`sdvk bench --only linear`)
};

// y[..., N] = act(x[..., K] @ W + bias) (+ residual), W = weight^T for OutIn, weight for InOut;
// bias [N] or nullptr. Leading dims of x are flattened to M rows. All tensors share one dtype;
// y must not overlap x, weight or bias.
void linear(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
            const Epilogue& ep = {}, WeightLayout layout = WeightLayout::OutIn);

// A 1x1 convolution as a GEMM per image: y[z] = act(weight @ x[z] + bias[:, None]) (+ residual),
// x [B,K,P] (NCHW with P = H*W pixels), weight [M,K] (the [M,K,1,1] conv weight), bias [M] or
// nullptr, y [B,M,P]. conv2d takes this path for 1x1 stride-1 unpadded kernels (on lavapipe
// it halved the direct kernel's share of an SD 1.5 UNet call, `sdvk bench sd15 --profile`),
// and after a patch gather for others (ops/conv2d_im2col.h).
// `op` names the dispatch in errors and profiles (conv2d's GEMM path passes its own).
void pointwise_conv(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                    const Epilogue& ep = {}, const std::string& op = "conv2d 1x1");

// c[z] = alpha * a[z] @ (transpose_b ? b[z]^T : b[z]); a [B,M,K], b [B,K,N] or [B,N,K],
// c [B,M,N]. All three share one dtype; c must not overlap a or b.
void batched_matmul(Sequence& s, const Tensor& a, const Tensor& b, bool transpose_b, const Tensor& c,
                    float alpha = 1.0f);

namespace ref {
// x [M,K], weight [N,K], bias [N] or empty, residual [M,N] or empty -> [M,N]; double sums.
std::vector<float> linear(const std::vector<float>& x, const std::vector<float>& weight,
                          const std::vector<float>& bias, int64_t M, int64_t K, int64_t N,
                          std::optional<Activation> act = std::nullopt,
                          const std::vector<float>& residual = {});
// a [B,M,K], b [B,K,N] (or [B,N,K] when transpose_b) -> [B,M,N]; double sums.
std::vector<float> batched_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t B,
                                  int64_t M, int64_t K, int64_t N, bool transpose_b, float alpha = 1.0f);
}  // namespace ref

}  // namespace sdvk::ops
