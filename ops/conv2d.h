// 2-D convolution (PyTorch Conv2d, groups = 1, dilation = 1). Auto picks one of four paths,
// in this order (SD-sized: >= 128 channels in and out):
//  1. Winograd F(4x4,3x3) (ops/conv2d_winograd.h): SD-sized 3x3 stride-1 convs; with the CPU
//     kernel family only those of more than 8 output tiles, N * ceil(Ho/4) * ceil(Wo/4) (or
//     whose patches would not fit path 3);
//  2. a GEMM per image for 1x1 stride-1 unpadded kernels (ops::pointwise_conv);
//  3. with the CPU kernel family (measured on lavapipe only), patch gather + that GEMM
//     (ops/conv2d_im2col.h): other SD-sized convs where one image's patches fit 32 MiB;
//  4. the direct kernel, an implicit GEMM that gathers the patches inside the kernel.
// No path materialises an im2col buffer over 32 MiB (the whole batch's is what runs other
// engines out of memory on VAE decode). GEMM view per image: M = Cout, N = Ho*Wo,
// K = Cin*kh*kw.
#pragma once
#include <vector>

#include "ops/unary.h"
#include "vk/context.h"
#include "vk/sequence.h"

namespace sdvk::ops {

// Shared by conv2d's paths: SD-sized convolutions have at least kSdChannels channels in and
// out (SD's narrowest, the VAE's 128), and no path's intermediate buffer grows past
// kConvChunkBytes (its arena share and one storage binding).
constexpr int64_t kSdChannels = 128;
constexpr int64_t kConvChunkBytes = 32 << 20;

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // zero padding
  bool has_activation = false;
  Activation activation = Activation::SiLU;  // applied after bias, before residual
};

// Whether conv2d runs this kernel as a GEMM per image (ops::pointwise_conv): 1x1, stride 1,
// no padding.
bool conv2d_is_pointwise(const Shape& weight, const Conv2dParams& p);

// Same stride and padding on both axes and all sides (torch.nn.Conv2d(stride=, padding=)).
Conv2dParams conv_params(int stride, int padding);

// [N,Cout,Ho,Wo] for x [N,Cin,H,W] and weight [Cout,Cin,kh,kw]; throws Error when they do not fit.
Shape conv2d_output_shape(const Shape& x, const Shape& weight, const Conv2dParams& p);

// y[N,Cout,Ho,Wo] = conv(x[N,Cin,H,W], weight[Cout,Cin,kh,kw]) + bias[Cout] (nullptr = none),
// then the activation (if p.has_activation), then + residual (nullptr = none, else y's shape).
// All tensors share one dtype. residual may be y itself (in-place skip connection); x may not.
void conv2d(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
            const Conv2dParams& p, const Tensor* residual = nullptr);

// Whether the CPU-shaped kernel can run here: it broadcasts weights over 8 subgroup lanes
// (ballot operations, subgroups of 8 to 32 lanes). Where it cannot, the CPU family uses the
// tiled kernel.
bool conv2d_cpu_kernel_supported(const Context& ctx);

namespace ref {
// Straightforward loops, double accumulation; the conv sum + bias is rounded to float before
// the activation and the residual add, as PyTorch does.
std::vector<float> conv2d(const std::vector<float>& x, const Shape& x_shape, const std::vector<float>& weight,
                          const Shape& w_shape, const std::vector<float>* bias, const Conv2dParams& p,
                          const std::vector<float>* residual = nullptr);
}  // namespace ref

}  // namespace sdvk::ops
