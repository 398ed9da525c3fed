// 8-bit RGB images in memory, PNG writing with text metadata, and reading PNG (libpng) or any
// format stb_image knows (JPEG, BMP, GIF, TGA, ...).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sdvk {

struct Image {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;  // row-major HWC: pixels[(y * width + x) * channels + c]
};

// Writes `img` (1, 3 or 4 channels) as an 8-bit PNG with one text chunk per (keyword, value):
// tEXt when the value is plain ASCII, else uncompressed iTXt holding UTF-8, so any prompt
// round-trips. Keywords must be 1-79 printable Latin-1 characters. The file appears whole or
// not at all: it is written to a temporary file next to `path`, synced and renamed over it. Throws
// Error("cannot write PATH: reason") on any failure, leaving nothing behind.
void write_png(const std::string& path, const Image& img,
               const std::vector<std::pair<std::string, std::string>>& text_chunks);

// Reads an image as 3-channel RGB, whatever it holds: grey is replicated to RGB, a palette is
// expanded, 16-bit samples keep their high byte, and alpha is dropped (not composited), as
// PIL's Image.convert("RGB") does, which is what CLIP's preprocessing starts from. PNG goes
// through libpng, whose tEXt / zTXt / iTXt chunks land in `text_chunks` (values as UTF-8);
// other formats through stb_image. Throws Error naming the file when it is missing,
// unreadable, corrupt, or over 16384 pixels on a side.
Image read_image(const std::string& path, std::map<std::string, std::string>* text_chunks = nullptr);

// The same conversion for an image in memory (1-4 channels): grey replicated, alpha dropped.
Image to_rgb(const Image& img);

}  // namespace sdvk
