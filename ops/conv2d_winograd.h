// The 3x3 stride-1 convolutions of SD's UNet and VAE (most of their FLOPs) through Winograd
// F(4x4, 3x3): per 4x4 output tile, 36 products instead of 144 multiply-adds. Three passes
// around one batched GEMM, all intermediates float32 (the transforms grow values by up to
// ~100x, too much for float16):
//   U[36][Cout][Kp] = G g G^T   (weights, re-derived on every replay: no second copy of the model)
//   V[36][Kp][T]    = B^T d B   (input 6x6 patches, T tiles over the whole batch)
//   M[pos] = U[pos] @ V[pos]    (ops::batched_matmul)
//   y tile = A^T m A + epilogue
// Kp and the tile count round up to 8 so the GEMM reads whole vector units; intermediates
// are chunked over tiles and output channels to stay within one storage binding.
#pragma once
#include "ops/conv2d.h"

namespace sdvk::ops {

// Whether conv2d takes the Winograd path for this shape on this device.
bool conv2d_winograd_applies(const Context& ctx, const Shape& x, const Shape& weight, const Conv2dParams& p);

// conv2d's contract (checked by conv2d) on the Winograd path.
void conv2d_winograd(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                     const Conv2dParams& p, const Tensor* residual);

}  // namespace sdvk::ops
