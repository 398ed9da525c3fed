// conv2d as patch gather + GEMM: col[z] = im2col(x[z]) [Cin*kh*kw, Ho*Wo], then
// y[z] = weight [Cout, Cin*kh*kw] @ col[z] through ops::pointwise_conv (the GEMM kernels that
// run linear layers, 2-4x the direct kernel's rate on lavapipe). The col buffer is a chunk of
// whole images within a fixed budget, never the batch's full im2col matrix (what runs other
// engines out of memory on VAE decode): a single image over the budget takes another path.
#pragma once
#include "ops/conv2d.h"

namespace sdvk::ops {

// Whether one image's patch buffer fits the budget, in a chunk of images whose slices of y
// start on the device's storage-offset alignment.
bool conv2d_im2col_fits(const Context& ctx, const Shape& x, const Shape& weight, const Conv2dParams& p, DType dtype);

// Whether conv2d takes the GEMM path for this shape and storage type on this device.
bool conv2d_im2col_applies(const Context& ctx, const Shape& x, const Shape& weight, const Conv2dParams& p,
                           DType dtype);

// conv2d's contract (checked by conv2d) on the GEMM path.
void conv2d_im2col(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                   const Conv2dParams& p, const Tensor* residual);

}  // namespace sdvk::ops
