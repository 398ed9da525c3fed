// A contact sheet: thumbnails in a grid, in the given order, each with a title line (rank and
// score) and its caption (the prompt, wrapped to two lines) under it, since people look at a
// batch rather than read a table.
#pragma once
#include <string>
#include <vector>

#include "image/font.h"
#include "image/image.h"

namespace sdvk {

struct SheetItem {
  const Image* image = nullptr;
  std::string title, caption;
};

struct SheetLayout {
  int thumb = 128;    // thumbnails fit in thumb x thumb, aspect kept, upscaled with nearest neighbour
  int max_columns = 6;
  float text_px = 13;  // line height of the text
};

Image contact_sheet(const std::vector<SheetItem>& items, const Font& font, const SheetLayout& layout = {});

}  // namespace sdvk
