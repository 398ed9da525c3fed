#include "ops/conv2d_im2col.h"

#include <algorithm>

#include "ops/matmul.h"
#include "ops/op_util.h"

namespace sdvk::ops {
namespace {

constexpr int64_t kGroup = 64;  // invocations per group of the gather kernel

// Images per col chunk: as many as the budget holds, and a count whose y slices start on the
// device's storage-offset alignment (0 when not even one image fits, or no such count does).
int64_t images_per_chunk(const Context& ctx, const Shape& x, const Shape& w, const Shape& ys, DType dt) {
  const int64_t bytes = dtype_bytes(dt);
  const int64_t col_image = x[1] * w[2] * w[3] * ys[2] * ys[3] * bytes;
  const int64_t budget = std::min<int64_t>(kConvChunkBytes, int64_t(ctx.info().max_storage_buffer_range));
  int64_t nc = std::min(ys[0], budget / col_image);
  const int64_t y_image = ys[1] * ys[2] * ys[3] * bytes, align = ctx.info().min_storage_offset_alignment;
  while (nc > 0 && nc < ys[0] && (nc * y_image) % align) nc--;
  return nc;
}

}  // namespace

bool conv2d_im2col_fits(const Context& ctx, const Shape& x, const Shape& w, const Conv2dParams& p, DType dtype) {
  return images_per_chunk(ctx, x, w, conv2d_output_shape(x, w, p), dtype) > 0;
}

bool conv2d_im2col_applies(const Context& ctx, const Shape& x, const Shape& w, const Conv2dParams& p,
                           DType dtype) {
  if (ctx.conv_algorithm() == ConvAlgorithm::Direct || ctx.conv_algorithm() == ConvAlgorithm::Winograd) return false;
  if (!conv2d_im2col_fits(ctx, x, w, p, dtype)) return false;
  // Auto: SD-sized channels only. There the GEMM kernels beat the direct one (lavapipe, `sdvk
  // bench --only conv2d`, SDVK_CONV=direct|gemm: a 320-channel stride-2 downsampler, 64x64 x2,
  // 264 -> 128 ms float16, 256 -> 199 ms float32); on the demo model's narrow convs the patch
  // gather outweighs the GEMM (denoising 1.0-1.4x, VAE decode 2x slower). The CPU kernel
  // family only: on GPUs this is unmeasured, and they keep the direct kernel.
  return ctx.conv_algorithm() == ConvAlgorithm::Gemm ||
         (ctx.cpu_kernels() && x[1] >= kSdChannels && w[0] >= kSdChannels);
}

void conv2d_im2col(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                   const Conv2dParams& p, const Tensor* residual) {
  Context& ctx = s.context();
  const int64_t n = x.dim(0), cout = y.dim(1), npix = y.dim(2) * y.dim(3);
  const int64_t rows = weight.numel() / cout;  // Cin * kh * kw
  const int64_t nc_max = images_per_chunk(ctx, x.shape(), weight.shape(), y.shape(), x.dtype());
  check(nc_max > 0, "conv2d", "no aligned chunk of patch buffers within the budget for x " + shape_str(x.shape()));
  const Tensor w2 = weight.reshape({cout, rows});
  auto u32 = [](int64_t v) { return uint32_t(v); };
  for (int64_t n0 = 0; n0 < n; n0 += nc_max) {
    const int64_t nc = std::min(nc_max, n - n0);
    Tensor col = s.temp({nc, rows, npix}, x.dtype(), "conv2d patches");
    struct {
      uint32_t n0, cin, h, w, ho, wo, kh, kw, sh, sw, pt, pl;
    } push{u32(n0),          u32(x.dim(1)),      u32(x.dim(2)),      u32(x.dim(3)),
           u32(y.dim(2)),    u32(y.dim(3)),      u32(weight.dim(2)), u32(weight.dim(3)),
           u32(p.stride_h),  u32(p.stride_w),    u32(p.pad_top),     u32(p.pad_left)};
    s.dispatch(ctx.kernels().get(variant(ctx, "conv2d_im2col", x.dtype()), 2), {in(x), out(col)}, push,
               {groups_for(npix, kGroup), u32(rows), u32(nc)}, "conv2d im2col");
    // This chunk's images of y (aligned: images_per_chunk).
    auto slice = [&](const Tensor& t) { return t.view(n0 * cout * npix, {nc, cout, npix}, ctx); };
    Tensor yc = slice(y), rc = residual ? slice(*residual) : Tensor();
    Epilogue ep{.residual = residual ? &rc : nullptr, .has_activation = p.has_activation, .activation = p.activation};
    pointwise_conv(s, col, w2, bias, yc, ep, "conv2d gemm");
  }
}

}  // namespace sdvk::ops
