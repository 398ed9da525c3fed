#include "vae/tiled_decoder.h"

#include <algorithm>

#include "core/error.h"

namespace sdvk::vae {
namespace {

// The most bytes one activation of a decode may take: a storage-buffer binding must hold the
// whole tensor, and 1/8 of device memory keeps the arena (several such tensors) well inside it.
uint64_t activation_limit(const Context& ctx) {
  uint64_t limit = ctx.info().max_storage_buffer_range;
  if (ctx.info().device_local_bytes > 0) limit = std::min(limit, ctx.info().device_local_bytes / 8);
  return limit;
}

bool too_large(const Context& ctx, const Decoder& dec, const Shape& latent) {
  return dec.largest_activation_bytes(latent) > activation_limit(ctx);
}

// First pixels of equal tiles covering [0, size) with at least `overlap` shared between
// neighbours. Rather than a short last tile, the tiles are spread evenly, so the last one ends
// at the border and every overlap is at least the one asked for.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  if (tile >= size) return {0};
  const int64_t stride = tile - overlap, span = size - tile;
  const int64_t gaps = (span + stride - 1) / stride;  // tiles - 1
  std::vector<int64_t> starts;
  for (int64_t k = 0; k <= gaps; ++k) starts.push_back((k * span + gaps / 2) / gaps);
  return starts;
}

}  // namespace

TileOptions parse_tile_option(const std::string& value) {
  TileOptions t;
  if (value == "auto") return t;
  if (value == "off") {
    t.mode = TileOptions::Mode::Off;
    return t;
  }
  int n = 0;
  size_t used = 0;
  try {
    n = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || n < 2 || n > 4096)
    throw Error(value + ": expected auto, off or a tile size in latent pixels (2..4096)");
  t.mode = TileOptions::Mode::On;
  t.tile = n;
  t.overlap = n / 4;
  return t;
}

bool should_tile(const Context& ctx, const Decoder& dec, const Shape& latent, const TileOptions& o) {
  if (latent.size() != 4) throw Error("vae tiling: latent must be [N,C,h,w], got " + shape_str(latent));
  const bool larger = latent[2] > o.tile || latent[3] > o.tile;
  switch (o.mode) {
    case TileOptions::Mode::Off: return false;
    case TileOptions::Mode::On: return larger;
    case TileOptions::Mode::Auto: return larger || too_large(ctx, dec, latent);
  }
  return false;
}

TileGrid tile_grid(const Context& ctx, const Decoder& dec, const Shape& latent, const TileOptions& o) {
  if (o.tile < 1 || o.overlap < 0 || o.overlap >= o.tile)
    throw Error("vae tiling: tile " + std::to_string(o.tile) + " with overlap " + std::to_string(o.overlap) +
                ": need tile >= 1 and 0 <= overlap < tile");
  const int64_t h = latent.at(2), w = latent.at(3);
  int64_t tile = o.tile, overlap = o.overlap;
  if (o.mode == TileOptions::Mode::Auto) {  // shrink in steps of 8 until one tile's activations fit
    while (tile > 8 && too_large(ctx, dec, {latent[0], latent[1], std::min(tile, h), std::min(tile, w)})) tile -= 8;
    overlap = std::min(overlap, tile / 4);
  }
  TileGrid g;
  g.tile_h = std::min(tile, h);
  g.tile_w = std::min(tile, w);
  g.rows = tile_starts(h, g.tile_h, overlap);
  g.cols = tile_starts(w, g.tile_w, overlap);
  return g;
}

std::vector<std::vector<float>> blend_ramps(const std::vector<int64_t>& starts, int64_t size) {
  std::vector<std::vector<float>> weights;
  for (size_t k = 0; k < starts.size(); ++k) {
    std::vector<float> wk(size_t(size), 1.0f);
    const int64_t begin = starts[k], end = begin + size;
    if (k > 0 && starts[k - 1] + size > begin) {  // ramp up across the overlap with the previous tile
      const double span = double(starts[k - 1] + size - begin);
      for (int64_t i = 0; i < std::min<int64_t>(size, int64_t(span)); ++i) wk[i] *= float((i + 0.5) / span);
    }
    if (k + 1 < starts.size() && starts[k + 1] < end) {  // ramp down across the overlap with the next
      const double span = double(end - starts[k + 1]);
      for (int64_t i = std::max<int64_t>(0, size - int64_t(span)); i < size; ++i) wk[i] *= float((size - i - 0.5) / span);
    }
    weights.push_back(std::move(wk));
  }
  return weights;
}

HostTensor decode_latents(Context& ctx, Decoder& dec, const std::vector<float>& latent, const Shape& shape,
                     const TileOptions& options, const TileProgress& progress) {
  const int64_t lc = dec.config().latent_channels, oc = dec.config().out_channels, f = dec.upscale();
  if (shape.size() != 4 || shape[1] != lc || shape[0] < 1 || shape[2] < 1 || shape[3] < 1)
    throw Error("vae decode: latent must be [N," + std::to_string(lc) + ",h,w], got " + shape_str(shape));
  if (int64_t(latent.size()) != shape_numel(shape))
    throw Error("vae decode: " + std::to_string(latent.size()) + " latent values for shape " + shape_str(shape));
  const int64_t n = shape[0], h = shape[2], w = shape[3], H = h * f, W = w * f;

  TileGrid g;
  if (should_tile(ctx, dec, shape, options)) {
    g = tile_grid(ctx, dec, shape, options);
  } else {
    g.tile_h = h, g.tile_w = w, g.rows = {0}, g.cols = {0};  // a full decode: one tile, weight 1
  }
  const int64_t th = g.tile_h, tw = g.tile_w, TH = th * f, TW = tw * f;

  // One recording for every tile: [N,C,th,tw] -> [N,oc,TH,TW].
  Sequence s(ctx);
  Tensor in = Tensor::empty(ctx, {n, lc, th, tw}, dec.dtype(), "vae tile latent");
  Tensor out = dec.forward(s, in);
  s.input(in);  // each tile: one submission carrying its latent in and its pixels out
  s.output(out);

  std::vector<int64_t> rows_px, cols_px;  // tile origins in image pixels
  for (int64_t r : g.rows) rows_px.push_back(r * f);
  for (int64_t c : g.cols) cols_px.push_back(c * f);
  const auto wy = blend_ramps(rows_px, TH), wx = blend_ramps(cols_px, TW);

  HostTensor img{{n, oc, H, W}, std::vector<float>(size_t(n * oc * H * W), 0.0f)};
  std::vector<float> weight_sum(size_t(H * W), 0.0f);  // [H,W]
  std::vector<float> tile(size_t(n * lc * th * tw));
  const int total = g.count();
  int done = 0;
  for (size_t ty = 0; ty < g.rows.size(); ++ty) {
    for (size_t tx = 0; tx < g.cols.size(); ++tx) {
      const int64_t r0 = g.rows[ty], c0 = g.cols[tx];
      for (int64_t p = 0; p < n * lc; ++p)  // crop [N*C, th, tw] out of [N*C, h, w]
        for (int64_t y = 0; y < th; ++y)
          std::copy_n(latent.begin() + (p * h + r0 + y) * w + c0, tw, tile.begin() + (p * th + y) * tw);
      s.write_input(in, tile);
      s.run();
      dec.check_output(s);
      const std::vector<float> part = s.read_output(out);  // [N,oc,TH,TW]
      const int64_t y0 = r0 * f, x0 = c0 * f;
      for (int64_t y = 0; y < TH; ++y)
        for (int64_t x = 0; x < TW; ++x) weight_sum[(y0 + y) * W + x0 + x] += wy[ty][y] * wx[tx][x];
      for (int64_t p = 0; p < n * oc; ++p)
        for (int64_t y = 0; y < TH; ++y) {
          const float* src = part.data() + (p * TH + y) * TW;
          float* dst = img.values.data() + (p * H + y0 + y) * W + x0;
          const float ry = wy[ty][y];
          for (int64_t x = 0; x < TW; ++x) dst[x] += ry * wx[tx][x] * src[x];
        }
      if (progress) progress(++done, total);
    }
  }
  for (int64_t p = 0; p < n * oc; ++p)  // the weights sum to 1 where only two tiles meet; exact elsewhere too
    for (int64_t i = 0; i < H * W; ++i) img.values[p * H * W + i] /= weight_sum[i];
  return img;
}

}  // namespace sdvk::vae
