// Text on images with a real font rasteriser: TrueType outlines through stb_truetype
// (libstb-dev), antialiased, from a .ttf file such as Debian's fonts-dejavu-core.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/image.h"

struct stbtt_fontinfo;

namespace sdvk {

class Font {
 public:
  // Reads a .ttf file; throws Error naming it when it is missing or not a font.
  explicit Font(const std::string& path);
  ~Font();
  Font(Font&&) noexcept;

  // The font tools use: $SDVK_FONT, else DejaVu Sans where fonts-dejavu-core puts it.
  static std::string default_path();

  // Width in pixels of UTF-8 `text` at `px` pixels line height.
  int width(const std::string& text, float px) const;
  // `text` cut at a character boundary, with "..." appended, so that it fits in `max_width`.
  std::string fit(const std::string& text, float px, int max_width) const;
  // Draws `text` with the top of its line at `top`, alpha-blended in `rgb`, clipped to the image.
  void draw(Image* img, int x, int top, const std::string& text, float px, const uint8_t rgb[3]) const;

 private:
  std::vector<unsigned char> data_;
  std::unique_ptr<stbtt_fontinfo> info_;
};

// UTF-8 to code points; malformed bytes become U+FFFD.
std::vector<uint32_t> utf8_code_points(const std::string& text);

}  // namespace sdvk
