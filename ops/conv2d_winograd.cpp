#include "ops/conv2d_winograd.h"

#include <algorithm>

#include "ops/conv2d_im2col.h"
#include "ops/matmul.h"
#include "ops/op_util.h"

namespace sdvk::ops {
namespace {

constexpr int64_t kTile = 4;     // output tile side
constexpr int64_t kPoints = 36;  // (kTile + 2)^2 transformed positions
constexpr int64_t kGroup = 64;   // invocations per group of the transform kernels
constexpr int64_t kWideColumns = 64;  // columns of one GEMM workgroup (ops/matmul.cpp)
constexpr int64_t kGemmTiles = 8;     // auto: this many tiles or fewer take the GEMM path

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

bool conv2d_winograd_applies(const Context& ctx, const Shape& x, const Shape& w, const Conv2dParams& p) {
  if (ctx.conv_algorithm() == ConvAlgorithm::Direct || ctx.conv_algorithm() == ConvAlgorithm::Gemm) return false;
  if (w[2] != 3 || w[3] != 3 || p.stride_h != 1 || p.stride_w != 1) return false;
  if (ctx.conv_algorithm() == ConvAlgorithm::Winograd) return true;
  // Auto: wherever the channels are SD-sized (SD's narrowest, the VAE's 128) and there are
  // more than kGemmTiles tiles. Narrower networks (the bundled demo model) gain nothing and
  // would pay for five more pipelines to compile. With few tiles the weight transform, whose
  // cost does not shrink with the image, dominates: there the GEMM path (ops/conv2d_im2col.h)
  // is faster (lavapipe, `sdvk bench --only conv2d`, SDVK_CONV=winograd|gemm, float16: 1280
  // channels at 4x4 x2 121 -> 46 ms, at 8x8 x2 134 -> 99 ms; 640 at 16x16 x2 79 vs 111 ms).
  const Shape ys = conv2d_output_shape(x, w, p);
  const int64_t tiles = ys[0] * ((ys[2] + kTile - 1) / kTile) * ((ys[3] + kTile - 1) / kTile);
  // (Float32 patches: fitting as float32, they fit as float16 too.) The GEMM path is a CPU
  // kernel family choice (conv2d_im2col_applies): GPUs keep Winograd at any tile count.
  return x[1] >= kSdChannels && w[0] >= kSdChannels &&
         (tiles > kGemmTiles || !ctx.cpu_kernels() || !conv2d_im2col_fits(ctx, x, w, p, DType::F32));
}

void conv2d_winograd(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                     const Conv2dParams& p, const Tensor* residual) {
  Context& ctx = s.context();
  const int64_t n = x.dim(0), cin = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t cout = y.dim(1), ho = y.dim(2), wo = y.dim(3);
  const int64_t tiles_y = (ho + kTile - 1) / kTile, tiles_x = (wo + kTile - 1) / kTile;
  const int64_t tiles = n * tiles_y * tiles_x, kp = round_up(cin, 8);
  // Chunks of tiles and output channels keep each intermediate within one storage binding
  // and the arena small: V [36][Kp][tc], U [36][cc][Kp] and M [36][cc][tc] each <= budget.
  const int64_t range = int64_t(ctx.info().max_storage_buffer_range);
  const int64_t budget = std::min(range, kConvChunkBytes) / 4 / kPoints;  // float32 elements per position
  const int64_t tc_max = std::max<int64_t>(8, std::min(round_up(tiles, 8), budget / kp / 8 * 8));
  const int64_t cc_max = std::max<int64_t>(1, std::min(cout, budget / std::max(kp, tc_max)));
  check(kPoints * kp * std::max(tc_max, cc_max) * 4 <= range && kPoints * cc_max * tc_max * 4 <= range, "conv2d",
        "Winograd intermediates over the storage-buffer range for x " + shape_str(x.shape()));
  auto u32 = [](int64_t v) { return uint32_t(v); };
  // Few tiles (deep UNet levels): the GEMM's columns are the output channels instead, so its
  // 64-column workgroups stay busy: M^T[pos] = V^T[pos] @ U[pos]^T.
  const bool transposed = tc_max < kWideColumns && cc_max >= kWideColumns;

  for (int64_t c0 = 0; c0 < cout; c0 += cc_max) {
    const int64_t cc = std::min(cc_max, cout - c0);
    Tensor u = s.temp({kPoints, cc, kp}, DType::F32, "winograd weights");
    struct {
      uint32_t c0, cc, cin, kp;
    } wpush{u32(c0), u32(cc), u32(cin), u32(kp)};
    s.dispatch(ctx.kernels().get(variant(ctx, "conv2d_winograd_weight", x.dtype()), 2), {in(weight), out(u)}, wpush,
               {groups_for(kp, kGroup), u32(cc), 1}, "conv2d winograd weight");

    for (int64_t t0 = 0; t0 < tiles; t0 += tc_max) {
      const int64_t tc = std::min(tc_max, round_up(tiles - t0, 8));
      Tensor v = transposed ? s.temp({kPoints, tc, kp}, DType::F32, "winograd input")
                            : s.temp({kPoints, kp, tc}, DType::F32, "winograd input");
      Tensor m = transposed ? s.temp({kPoints, tc, cc}, DType::F32, "winograd products")
                            : s.temp({kPoints, cc, tc}, DType::F32, "winograd products");
      struct {
        uint32_t cin, h, w, tiles_y, tiles_x, tiles, kp, t0, tc, pt, pl, transposed;
      } ipush{u32(cin), u32(h), u32(w), u32(tiles_y), u32(tiles_x), u32(tiles), u32(kp), u32(t0), u32(tc),
              u32(p.pad_top), u32(p.pad_left), transposed};
      s.dispatch(ctx.kernels().get(variant(ctx, "conv2d_winograd_input", x.dtype()), 2), {in(x), out(v)}, ipush,
                 transposed ? Groups{groups_for(kp, kGroup), u32(tc), 1} : Groups{groups_for(tc, kGroup), u32(kp), 1},
                 "conv2d winograd input");

      if (transposed) batched_matmul(s, v, u, true, m);
      else batched_matmul(s, u, v, false, m);

      struct {
        uint32_t cout, ho, wo, tiles_y, tiles_x, tiles, c0, cc, t0, tc, has_bias, act, has_res, transposed;
      } opush{u32(cout), u32(ho), u32(wo), u32(tiles_y), u32(tiles_x), u32(tiles), u32(c0), u32(cc), u32(t0), u32(tc),
              bias != nullptr, p.has_activation ? 1 + uint32_t(p.activation) : 0, residual != nullptr, transposed};
      // Absent bias / residual bind x in their place; has_bias / has_res keep the shader off them.
      s.dispatch(ctx.kernels().get(variant(ctx, "conv2d_winograd_output", x.dtype()), 4),
                 {in(m), in(bias ? *bias : x), in(residual ? *residual : x), out(y)}, opush,
                 {groups_for(tc, kGroup), u32(cc), 1}, "conv2d winograd output");
    }
  }
}

}  // namespace sdvk::ops
