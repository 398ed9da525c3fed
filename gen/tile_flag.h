// --tile, how `generate`, `component vae-decode` and `bench sd15` tile the VAE decode. The flag's
// wording lives here; the parsing is vae::parse_tile_option, flag-free, which tests use too.
#pragma once
#include <string>

#include "vae/tiled_decoder.h"

namespace sdvk::cli {

// vae::parse_tile_option(value), its Error prefixed with the flag: "--tile 4x: expected auto, ...".
vae::TileOptions parse_tile_flag(const std::string& value);

}  // namespace sdvk::cli
