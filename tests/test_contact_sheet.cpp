// Text drawn with stb_truetype in DejaVu Sans (fonts-dejavu-core) and the contact-sheet layout
// of `score --sheet`.
#include <gtest/gtest.h>

#include "core/error.h"
#include "image/contact_sheet.h"
#include "image/font.h"

using namespace sdvk;

namespace {

Image solid(int w, int h, uint8_t v) { return Image{w, h, 3, std::vector<uint8_t>(size_t(w) * size_t(h) * 3, v)}; }

int dark_pixels(const Image& img, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) n += img.pixels[(size_t(y) * size_t(img.width) + size_t(x)) * 3] < 128;
  return n;
}

}  // namespace

TEST(Font, MeasuresFitsAndDraws) {
  Font font(Font::default_path());
  EXPECT_GT(font.width("a red circle", 13), font.width("a red", 13));
  EXPECT_GT(font.width("WWW", 26), font.width("WWW", 13));
  const std::string cut = font.fit("an astronaut riding a horse on the moon", 13, 60);
  EXPECT_LE(font.width(cut, 13), 60);
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  EXPECT_EQ(font.fit("short", 13, 200), "short");
  EXPECT_EQ(utf8_code_points("a\xc3\xa9\xe4\xb8\x80\xff"), (std::vector<uint32_t>{'a', 0xe9, 0x4e00, 0xfffd}));
  Image img = solid(80, 20, 255);
  const uint8_t black[3] = {0, 0, 0};
  font.draw(&img, 2, 2, "Hello", 14, black);
  EXPECT_GT(dark_pixels(img, 0, 0, 40, 20), 20);  // glyphs where the text is...
  EXPECT_EQ(dark_pixels(img, 50, 0, 80, 20), 0);  // ...and none past it
  font.draw(&img, 70, 2, "clipped at the edge", 14, black);  // no write outside the image
  EXPECT_THROW(Font("/nonexistent/font.ttf"), Error);
  EXPECT_THROW(Font(std::string(SDVK_TEST_DATA) + "/demo_clip/right.tsv"), Error);
}

TEST(ContactSheet, GridOfThumbnailsWithText) {
  Font font(Font::default_path());
  std::vector<Image> images = {solid(64, 64, 0), solid(200, 100, 60), solid(30, 90, 120), solid(64, 64, 180), solid(64, 64, 0)};
  std::vector<SheetItem> items;
  for (size_t i = 0; i < images.size(); i++) items.push_back({&images[i], "#" + std::to_string(i + 1) + "  30.00", "a red circle on the left of a very long caption"});
  SheetLayout layout;
  Image sheet = contact_sheet(items, font, layout);
  // Five images: 3 columns, 2 rows of 128 + 16 by 128 + 8 + 3 lines of 17 + 8 pixels.
  EXPECT_EQ(sheet.width, 3 * 144);
  EXPECT_EQ(sheet.height, 2 * 195);
  // The first thumbnail (black, upscaled 2x) fills its square; the blank sixth cell stays white.
  EXPECT_EQ(dark_pixels(sheet, 8, 8, 136, 136), 128 * 128);
  EXPECT_EQ(dark_pixels(sheet, 2 * 144, 195, 3 * 144, 2 * 195), 0);
  // The 200x100 image is fitted to 128x64, centred vertically.
  EXPECT_EQ(sheet.pixels[(size_t(8 + 32 + 10) * size_t(sheet.width) + 144 + 8 + 5) * 3], 60);
  EXPECT_EQ(sheet.pixels[(size_t(8 + 10) * size_t(sheet.width) + 144 + 8 + 5) * 3], 255);
  // Text under each thumbnail, inside its cell.
  EXPECT_GT(dark_pixels(sheet, 8, 140, 136, 190), 30);
  EXPECT_THROW(contact_sheet({}, font), Error);
}
