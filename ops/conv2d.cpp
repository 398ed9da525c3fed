#include "ops/conv2d.h"

#include "ops/conv2d_im2col.h"
#include "ops/conv2d_winograd.h"
#include "ops/matmul.h"
#include "ops/op_util.h"

namespace sdvk::ops {

namespace {

// CPU family register block: MB output channels x NB pixels per invocation, LS invocations per
// group along pixels. On lavapipe every load whose address varies per lane is a loop over the
// SIMD lanes (~20 instructions each), so what counts is loads per FMA: 1/MB input loads plus
// 1/(8 NB) weight loads. 16x4 and 32x4 ran fastest (4x8: 1.7x slower); 16 wastes less on 3- and
// 4-channel convs. LS = 32 (128 pixels a group) idles fewer lanes on 8x8 images than 64.
constexpr uint32_t kCpuMB = 16, kCpuNB = 4, kCpuLS = 32;
// GPU family tile (shaders/conv2d_tiled.comp): 64 channels x 64 pixels per group.
constexpr uint32_t kGpuTile = 64;

std::string params_str(const Conv2dParams& p) {
  return "stride " + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + ", pad t" +
         std::to_string(p.pad_top) + " b" + std::to_string(p.pad_bottom) + " l" + std::to_string(p.pad_left) + " r" +
         std::to_string(p.pad_right);
}

// 1x1 stride-1 unpadded: a GEMM per image (ops::pointwise_conv).
void conv2d_pointwise(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                      const Conv2dParams& p, const Tensor* residual) {
  const int64_t n = x.dim(0), cout = y.dim(1), pixels = x.dim(2) * x.dim(3);
  ops::Epilogue ep{.residual = nullptr, .has_activation = p.has_activation, .activation = p.activation};
  Tensor r = residual ? residual->reshape({n, cout, pixels}) : Tensor();
  if (residual) ep.residual = &r;
  pointwise_conv(s, x.reshape({n, x.dim(1), pixels}), weight.reshape({cout, x.dim(1)}), bias,
                 y.reshape({n, cout, pixels}), ep);
}

// The direct kernel: an implicit GEMM gathering the patches inside the kernel.
void conv2d_direct(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                   const Conv2dParams& p, const Tensor* residual) {
  Context& ctx = s.context();
  const Shape& ys = y.shape();
  const bool cpu = ctx.cpu_kernels() && conv2d_cpu_kernel_supported(ctx);  // else the tiled kernel serves
  const Kernel& k = cpu ? ctx.kernels().get(variant(ctx, "conv2d", x.dtype()), 5, {kCpuLS, kCpuMB, kCpuNB})
                        : ctx.kernels().get(variant(ctx, "conv2d_tiled", x.dtype()), 5);

  struct Push {  // shaders/conv2d_common.glsl
    uint32_t batch, cin, h, w, cout, ho, wo, kh, kw, sh, sw, pt, pl, has_bias, act, has_res;
  };
  auto u = [](int64_t v) { return uint32_t(v); };
  const Push push{.batch = u(x.dim(0)),
                  .cin = u(x.dim(1)),
                  .h = u(x.dim(2)),
                  .w = u(x.dim(3)),
                  .cout = u(ys[1]),
                  .ho = u(ys[2]),
                  .wo = u(ys[3]),
                  .kh = u(weight.dim(2)),
                  .kw = u(weight.dim(3)),
                  .sh = u(p.stride_h),
                  .sw = u(p.stride_w),
                  .pt = u(p.pad_top),
                  .pl = u(p.pad_left),
                  .has_bias = bias != nullptr,
                  .act = p.has_activation ? 1 + uint32_t(p.activation) : 0,
                  .has_res = residual != nullptr};

  const int64_t npix = ys[2] * ys[3];
  // CPU: the batch's pixels in one range (small images fill the groups); GPU: an image per z.
  Groups g = cpu ? Groups{groups_for(ys[0] * npix, kCpuLS * kCpuNB), groups_for(ys[1], kCpuMB), 1}
                 : Groups{groups_for(npix, kGpuTile), groups_for(ys[1], kGpuTile), uint32_t(ys[0])};
  // Absent bias / residual bind x in their place; has_bias / has_res keep the shader off them.
  s.dispatch(k, {in(x), in(weight), in(bias ? *bias : x), in(residual ? *residual : x), out(y)}, push, g, "conv2d");
}

}  // namespace

bool conv2d_cpu_kernel_supported(const Context& ctx) {
  return compute_subgroups(ctx, 8, kCpuLS, VK_SUBGROUP_FEATURE_BALLOT_BIT);
}

bool conv2d_is_pointwise(const Shape& w, const Conv2dParams& p) {
  return w.size() == 4 && w[2] == 1 && w[3] == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

Conv2dParams conv_params(int stride, int padding) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = padding;
  return p;
}

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  const std::string shapes = "x " + shape_str(x) + ", weight " + shape_str(w) + ", " + params_str(p);
  check(x.size() == 4 && w.size() == 4, "conv2d", "expected x [N,Cin,H,W] and weight [Cout,Cin,kh,kw], got " + shapes);
  check(x[1] == w[1], "conv2d", "input channels differ: " + shapes);
  check(x[0] > 0 && x[1] > 0 && w[0] > 0 && w[2] > 0 && w[3] > 0, "conv2d", "empty dimension: " + shapes);
  check(p.stride_h > 0 && p.stride_w > 0, "conv2d", "stride must be positive: " + shapes);
  check(p.pad_top >= 0 && p.pad_bottom >= 0 && p.pad_left >= 0 && p.pad_right >= 0, "conv2d",
        "negative padding: " + shapes);
  int64_t hp = x[2] + p.pad_top + p.pad_bottom, wp = x[3] + p.pad_left + p.pad_right;
  check(hp >= w[2] && wp >= w[3], "conv2d", "kernel larger than the padded input: " + shapes);
  return {x[0], w[0], (hp - w[2]) / p.stride_h + 1, (wp - w[3]) / p.stride_w + 1};
}

void conv2d(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
            const Conv2dParams& p, const Tensor* residual) {
  Shape ys = conv2d_output_shape(x.shape(), weight.shape(), p);
  check(y.shape() == ys, "conv2d",
        "y is " + shape_str(y.shape()) + ", expected " + shape_str(ys) + " for x " + shape_str(x.shape()) +
            " and weight " + shape_str(weight.shape()));
  check_same_dtype("conv2d", x, weight);
  check_same_dtype("conv2d", x, y);
  if (bias) {
    check(bias->shape() == Shape{weight.dim(0)}, "conv2d",
          "bias is " + shape_str(bias->shape()) + ", expected [" + std::to_string(weight.dim(0)) + "]");
    check_same_dtype("conv2d", x, *bias);
  }
  if (residual) {
    check(residual->shape() == ys, "conv2d",
          "residual is " + shape_str(residual->shape()) + ", expected y's shape " + shape_str(ys));
    check_same_dtype("conv2d", x, *residual);
  }
  check(!x.overlaps(y), "conv2d", "y overlaps x (other invocations still read x)");
  check(x.numel() < (int64_t(1) << 32) && y.numel() < (int64_t(1) << 32) && weight.numel() < (int64_t(1) << 32),
        "conv2d", "more than 2^32 elements in x " + shape_str(x.shape()) + " or y " + shape_str(ys));

  Context& ctx = s.context();
  // The paths' kernels count what they compute; the op reports the direct algorithm's count.
  const double before = s.flops();
  if (conv2d_winograd_applies(ctx, x.shape(), weight.shape(), p)) conv2d_winograd(s, x, weight, bias, y, p, residual);
  else if (conv2d_is_pointwise(weight.shape(), p)) conv2d_pointwise(s, x, weight, bias, y, p, residual);
  else if (conv2d_im2col_applies(ctx, x.shape(), weight.shape(), p, x.dtype()))
    conv2d_im2col(s, x, weight, bias, y, p, residual);
  else conv2d_direct(s, x, weight, bias, y, p, residual);
  s.add_flops(before + 2.0 * double(shape_numel(ys)) * double(weight.numel() / weight.dim(0)) - s.flops());
}

namespace ref {

std::vector<float> conv2d(const std::vector<float>& x, const Shape& xs, const std::vector<float>& w, const Shape& ws,
                          const std::vector<float>* bias, const Conv2dParams& p, const std::vector<float>* residual) {
  const Shape ys = conv2d_output_shape(xs, ws, p);
  const int64_t N = xs[0], Cin = xs[1], H = xs[2], W = xs[3];
  const int64_t Cout = ws[0], KH = ws[2], KW = ws[3], Ho = ys[2], Wo = ys[3];
  std::vector<float> y(size_t(shape_numel(ys)));
  for (int64_t n = 0; n < N; n++)
    for (int64_t co = 0; co < Cout; co++)
      for (int64_t oy = 0; oy < Ho; oy++)
        for (int64_t ox = 0; ox < Wo; ox++) {
          double sum = 0;
          for (int64_t ci = 0; ci < Cin; ci++)
            for (int64_t ky = 0; ky < KH; ky++)
              for (int64_t kx = 0; kx < KW; kx++) {
                int64_t iy = oy * p.stride_h - p.pad_top + ky, ix = ox * p.stride_w - p.pad_left + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;  // zero padding
                sum += double(x[size_t(((n * Cin + ci) * H + iy) * W + ix)]) *
                       double(w[size_t(((co * Cin + ci) * KH + ky) * KW + kx)]);
              }
          if (bias) sum += (*bias)[size_t(co)];
          float v = float(sum);
          if (p.has_activation) v = activation(p.activation, v);
          size_t i = size_t(((n * Cout + co) * Ho + oy) * Wo + ox);
          if (residual) v += (*residual)[i];
          y[i] = v;
        }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
