// Tiled VAE decoding: a latent [N,C,h,w] decoded as overlapping latent tiles of one size, so the
// device holds one tile's activations instead of the whole image's (SD at 512x512 has a
// 256-channel 512x512 activation: 256 MiB in float32, over lavapipe's 128 MiB binding limit).
//   vae::TileOptions t = vae::parse_tile_option("auto");
//   HostTensor img = vae::decode_latents(ctx, dec, latent, {1, 4, 96, 96}, t,
//                                        [](int i, int n) { printf("tile %d/%d\n", i, n); });
// Tiles: `tile` latent pixels a side, neighbours overlapping by `overlap`; the last tile of a row
// or column is shifted inward to end at the border, so every tile has the same size and one
// recorded Sequence is replayed for all (upload the tile's latent, run, download). Overlaps are
// blended with linear ramps whose weights sum to one, so no seam shows. The VAE's mid-block
// attention is global over the latent, so a tiled decode is close to but not equal to a full one.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/host_tensor.h"
#include "vae/decoder.h"

namespace sdvk::vae {

struct TileOptions {
  enum class Mode { Auto, Off, On } mode = Mode::Auto;
  int tile = 64;     // latent pixels per tile side (64 = 512 image pixels for SD)
  int overlap = 16;  // latent pixels shared by neighbouring tiles
};

// "auto", "off" or a tile size N (latent pixels, overlap N/4); otherwise an Error quoting `value`
// ("4x: expected auto, off or ..."; the CLI prefixes its flag, gen/tile_flag.h).
TileOptions parse_tile_option(const std::string& value);

// Whether decode_latents tiles `latent` [N,C,h,w]: On tiles whenever the latent is larger than one
// tile; Auto also needs the latent to exceed the tile or a full decode's largest activation to
// exceed the device's storage-buffer range (or 1/8 of its memory).
bool should_tile(const Context& ctx, const Decoder& dec, const Shape& latent, const TileOptions& options);

// The tile a decode uses: options.tile, halved under Auto until one tile's largest activation
// fits the limits above, and never larger than the latent.
struct TileGrid {
  int64_t tile_h = 0, tile_w = 0;          // latent pixels
  std::vector<int64_t> rows, cols;         // each tile's first latent row / column
  int count() const { return int(rows.size() * cols.size()); }
};
TileGrid tile_grid(const Context& ctx, const Decoder& dec, const Shape& latent, const TileOptions& options);

using TileProgress = std::function<void(int done, int total)>;

// Decodes `latent` (float32 NCHW values of `shape`) in the decoder's dtype, tiled or whole as
// should_tile says; `progress` is called after each tile (1..n; a full decode is one tile).
// Returns [N,out_channels,h*f,w*f], f = dec.upscale(). Error when a tile's output has NaN/Inf.
HostTensor decode_latents(Context& ctx, Decoder& dec, const std::vector<float>& latent, const Shape& shape,
                     const TileOptions& options, const TileProgress& progress = {});

// Linear blending weights of the tiles along one side: for the tile starting at starts[k] of
// `size` pixels, weight[k][i] of its pixel i (image pixels, factor f applied by the caller).
// Where tiles overlap the weights ramp linearly across the whole shared span and sum to 1.
std::vector<std::vector<float>> blend_ramps(const std::vector<int64_t>& starts, int64_t size);

}  // namespace sdvk::vae
