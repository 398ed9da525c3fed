#include "image/font.h"

#include <stb_truetype.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace sdvk {

std::vector<uint32_t> utf8_code_points(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = (unsigned char)s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    bool ok = len > 0 && i + size_t(len) <= s.size();
    for (int k = 1; ok && k < len; k++) {
      const unsigned char d = (unsigned char)s[i + size_t(k)];
      ok = (d >> 6) == 2;
      cp = (cp << 6) | (d & 0x3f);
    }
    out.push_back(ok ? cp : 0xfffd);
    i += ok ? size_t(len) : 1;
  }
  return out;
}

Font::Font(const std::string& path) : info_(std::make_unique<stbtt_fontinfo>()) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read font " + path + ": " + std::strerror(errno));
  data_.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  const int offset = data_.size() >= 12 ? stbtt_GetFontOffsetForIndex(data_.data(), 0) : -1;
  if (offset < 0 || !stbtt_InitFont(info_.get(), data_.data(), offset)) throw Error(path + ": not a TrueType font");
}

Font::~Font() = default;
Font::Font(Font&&) noexcept = default;

std::string Font::default_path() {
  const char* env = std::getenv("SDVK_FONT");
  return env && *env ? env : "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
}

int Font::width(const std::string& text, float px) const {
  const float scale = stbtt_ScaleForPixelHeight(info_.get(), px);
  float x = 0;
  std::vector<uint32_t> cps = utf8_code_points(text);
  for (size_t i = 0; i < cps.size(); i++) {
    int advance, lsb;
    stbtt_GetCodepointHMetrics(info_.get(), int(cps[i]), &advance, &lsb);
    x += float(advance) * scale;
    if (i + 1 < cps.size()) x += float(stbtt_GetCodepointKernAdvance(info_.get(), int(cps[i]), int(cps[i + 1]))) * scale;
  }
  return int(std::ceil(x));
}

std::string Font::fit(const std::string& text, float px, int max_width) const {
  if (width(text, px) <= max_width) return text;
  std::string cut = text;
  while (!cut.empty()) {
    do cut.pop_back();  // drop whole UTF-8 characters
    while (!cut.empty() && ((unsigned char)cut.back() >> 6) == 2);
    if (!cut.empty() && (unsigned char)cut.back() >= 0xc0) cut.pop_back();
    if (width(cut + "...", px) <= max_width) break;
  }
  return cut + "...";
}

void Font::draw(Image* img, int x0, int top, const std::string& text, float px, const uint8_t rgb[3]) const {
  const float scale = stbtt_ScaleForPixelHeight(info_.get(), px);
  int ascent, descent, gap;
  stbtt_GetFontVMetrics(info_.get(), &ascent, &descent, &gap);
  const int baseline = top + int(std::lround(float(ascent) * scale));
  float x = float(x0);
  std::vector<uint32_t> cps = utf8_code_points(text);
  for (size_t i = 0; i < cps.size(); i++) {
    int advance, lsb, ix0, iy0, ix1, iy1;
    stbtt_GetCodepointHMetrics(info_.get(), int(cps[i]), &advance, &lsb);
    const float shift = x - std::floor(x);  // subpixel placement keeps the spacing even
    stbtt_GetCodepointBitmapBoxSubpixel(info_.get(), int(cps[i]), scale, scale, shift, 0, &ix0, &iy0, &ix1, &iy1);
    const int w = ix1 - ix0, h = iy1 - iy0;
    if (w > 0 && h > 0) {
      std::vector<unsigned char> cover(size_t(w) * size_t(h));
      stbtt_MakeCodepointBitmapSubpixel(info_.get(), cover.data(), w, h, w, scale, scale, shift, 0, int(cps[i]));
      for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) {
          const int px_x = int(std::floor(x)) + ix0 + xx, px_y = baseline + iy0 + y;
          if (px_x < 0 || px_y < 0 || px_x >= img->width || px_y >= img->height) continue;
          const int a = cover[size_t(y) * size_t(w) + size_t(xx)];
          uint8_t* p = &img->pixels[(size_t(px_y) * size_t(img->width) + size_t(px_x)) * size_t(img->channels)];
          for (int c = 0; c < 3 && c < img->channels; c++) p[c] = uint8_t((p[c] * (255 - a) + rgb[c] * a + 127) / 255);
        }
    }
    x += float(advance) * scale;
    if (i + 1 < cps.size()) x += float(stbtt_GetCodepointKernAdvance(info_.get(), int(cps[i]), int(cps[i + 1]))) * scale;
  }
}

}  // namespace sdvk
