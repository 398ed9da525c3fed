#include "gen/tile_flag.h"

#include "core/error.h"

namespace sdvk::cli {

vae::TileOptions parse_tile_flag(const std::string& value) {
  try {
    return vae::parse_tile_option(value);
  } catch (const Error& e) {
    throw Error(std::string("--tile ") + e.what());
  }
}

}  // namespace sdvk::cli
