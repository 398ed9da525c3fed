// SDXL's micro-conditioning flags of `generate`: --original-size WxH and --crop-top-left Y,X,
// the sizes StableDiffusionXLPipeline folds into add_time_ids.
#pragma once
#include <string>
#include <vector>

#include "gen/cli.h"

namespace sdvk::cli {

struct MicroConditioning {
  int original_width = 0, original_height = 0;  // 0: the image size
  int crop_top = 0, crop_left = 0;
  bool given = false;  // either flag was given (refused for models without micro-conditioning)

  // add_time_ids for an image of width x height: original size (h, w), crop (y, x), target (h, w).
  std::vector<float> time_ids(int width, int height) const;
};

// Takes both flags from args; a malformed value is a one-line Error naming the flag.
MicroConditioning take_micro_conditioning(Args& args);

}  // namespace sdvk::cli
