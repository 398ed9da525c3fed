#include "image/contact_sheet.h"

#include <stb_image_resize.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdvk {
namespace {

// `img` fitted into size x size: area-averaged down (stb_image_resize), nearest neighbour up so
// that small images (the demo model's 64x64) stay sharp.
Image thumbnail(const Image& img, int size) {
  const double s = std::min(double(size) / img.width, double(size) / img.height);
  Image t{std::max(1, int(std::lround(img.width * s))), std::max(1, int(std::lround(img.height * s))), 3, {}};
  t.pixels.resize(size_t(t.width) * size_t(t.height) * 3);
  if (s < 1) {
    if (!stbir_resize_uint8(img.pixels.data(), img.width, img.height, 0, t.pixels.data(), t.width, t.height, 0, 3))
      throw Error("contact sheet: cannot resize a " + std::to_string(img.width) + "x" + std::to_string(img.height) + " image");
    return t;
  }
  for (int y = 0; y < t.height; y++)
    for (int x = 0; x < t.width; x++) {
      const int sx = std::min(img.width - 1, int(x / s)), sy = std::min(img.height - 1, int(y / s));
      for (int c = 0; c < 3; c++)
        t.pixels[(size_t(y) * size_t(t.width) + size_t(x)) * 3 + size_t(c)] =
            img.pixels[(size_t(sy) * size_t(img.width) + size_t(sx)) * 3 + size_t(c)];
    }
  return t;
}

// Up to two lines of `text` within `width`: words wrapped, the rest of the second line cut with "...".
std::vector<std::string> wrap2(const std::string& text, const Font& font, float px, int width) {
  std::string first;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos + 1);
    std::string candidate = text.substr(0, end);
    if (!first.empty() && font.width(candidate, px) > width) break;
    first = candidate;
    pos = end == std::string::npos ? text.size() : end;
  }
  std::vector<std::string> lines = {font.fit(first, px, width)};
  const size_t rest = text.find_first_not_of(' ', pos);
  if (rest != std::string::npos) lines.push_back(font.fit(text.substr(rest), px, width));
  return lines;
}

}  // namespace

Image contact_sheet(const std::vector<SheetItem>& items, const Font& font, const SheetLayout& layout) {
  if (items.empty()) throw Error("contact sheet: no images");
  const int n = int(items.size()), pad = 8, line = int(std::ceil(layout.text_px * 1.25f));
  const int cols = std::min({n, layout.max_columns, int(std::ceil(std::sqrt(double(n))))}), rows = (n + cols - 1) / cols;
  const int cell_w = layout.thumb + 2 * pad, cell_h = layout.thumb + pad + 3 * line + pad;
  Image sheet{cols * cell_w, rows * cell_h, 3, {}};
  sheet.pixels.assign(size_t(sheet.width) * size_t(sheet.height) * 3, 255);
  const uint8_t title_rgb[3] = {20, 20, 20}, caption_rgb[3] = {90, 90, 90};
  for (int i = 0; i < n; i++) {
    const int cx = (i % cols) * cell_w + pad, cy = (i / cols) * cell_h + pad;
    Image t = thumbnail(*items[size_t(i)].image, layout.thumb);
    const int ox = cx + (layout.thumb - t.width) / 2, oy = cy + (layout.thumb - t.height) / 2;
    for (int y = 0; y < t.height; y++)
      std::copy_n(&t.pixels[size_t(y) * size_t(t.width) * 3], size_t(t.width) * 3,
                  &sheet.pixels[(size_t(oy + y) * size_t(sheet.width) + size_t(ox)) * 3]);
    int ty = cy + layout.thumb + pad / 2;
    font.draw(&sheet, cx, ty, font.fit(items[size_t(i)].title, layout.text_px, layout.thumb), layout.text_px, title_rgb);
    for (const std::string& l : wrap2(items[size_t(i)].caption, font, layout.text_px, layout.thumb))
      font.draw(&sheet, cx, ty += line, l, layout.text_px, caption_rgb);
  }
  return sheet;
}

}  // namespace sdvk
