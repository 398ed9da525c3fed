// CLIP's image preprocessing, as transformers' CLIPImageProcessor does it: RGB, resize so the
// shortest side is size["shortest_edge"] with PIL's bicubic filter, centre crop to crop_size,
// rescale by 1/255, normalise with image_mean / image_std; float32 NCHW pixel_values.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.h"

namespace sdvk {

struct ClipPreprocessConfig {
  bool do_resize = true, do_center_crop = true, do_rescale = true, do_normalize = true;
  int shortest_edge = 224;            // size["shortest_edge"]; 0 when size is {height, width}
  int resize_height = 0, resize_width = 0;  // size {height, width}: resize to exactly that
  int crop_height = 224, crop_width = 224;
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> image_mean{0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP's
  std::array<float, 3> image_std{0.26862954f, 0.26130258f, 0.27577711f};
};

// The folder's preprocessor_config.json, else the OpenAI CLIP defaults above. The vision tower
// only accepts image_size x image_size inputs, so when the output size differs from
// `model_image_size` (a folder without the file whose model is not 224, such as the 32-pixel
// test model), resize and crop use the model's size instead and `note` says so. Throws Error
// naming the file for bad values or a resample filter other than bicubic (3).
ClipPreprocessConfig load_clip_preprocess_config(const std::string& clip_dir, int model_image_size, std::string* note);

// PIL's Image.resize(size, Image.BICUBIC) on 8-bit data, to the bit: a=-0.5 cubic kernel whose
// support widens by the downscale factor (antialiasing), a horizontal then a vertical pass, each
// with PIL's 22-bit fixed-point weights and rounding/clipping to uint8 after the pass.
Image resize_bicubic(const Image& img, int width, int height);

// transformers' get_resize_output_image_size(default_to_square=False): the short side becomes
// `shortest_edge`, the long side int(shortest_edge * long / short). Returns {height, width}.
std::pair<int, int> shortest_edge_size(int height, int width, int shortest_edge);

// transformers' center_crop: offsets (orig - crop) // 2, zero padding where the crop is larger.
Image center_crop(const Image& img, int height, int width);

// The whole preprocessing of one image: float32 [3, crop_height, crop_width].
std::vector<float> clip_pixel_values(const Image& img, const ClipPreprocessConfig& config);
// A batch: float32 [N, 3, crop_height, crop_width].
std::vector<float> clip_pixel_values(const std::vector<Image>& images, const ClipPreprocessConfig& config);

}  // namespace sdvk
