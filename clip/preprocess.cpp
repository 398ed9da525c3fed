#include "clip/preprocess.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/json.h"

namespace sdvk {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed-point weights (Resample.c)

double bicubic(double x) {  // Keys' cubic with a = -0.5, as PIL
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One pass's weights: for output index i, source samples [first[i], first[i] + count[i]) with
// fixed-point weights k[i * ksize + j]. Mirrors PIL's precompute_coeffs + normalize_coeffs_8bpc.
struct PassWeights {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;
};

PassWeights pass_weights(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;  // widen the kernel when shrinking
  const double support = 2.0 * filterscale;
  PassWeights w;
  w.ksize = int(std::ceil(support)) * 2 + 1;
  w.first.resize(size_t(out_size));
  w.count.resize(size_t(out_size));
  w.k.assign(size_t(out_size) * size_t(w.ksize), 0);
  std::vector<double> pre(size_t(w.ksize));
  for (int i = 0; i < out_size; i++) {
    const double center = (i + 0.5) * scale;
    int xmin = int(center - support + 0.5);  // C truncation, as PIL
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0;
    for (int x = 0; x < xmax; x++) {
      pre[size_t(x)] = bicubic((x + xmin - center + 0.5) / filterscale);
      total += pre[size_t(x)];
    }
    for (int x = 0; x < xmax; x++) {
      double v = total != 0 ? pre[size_t(x)] / total : pre[size_t(x)];
      w.k[size_t(i) * size_t(w.ksize) + size_t(x)] =
          int32_t(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    w.first[size_t(i)] = xmin;
    w.count[size_t(i)] = xmax;
  }
  return w;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}

// Resamples along one axis. `stride_in`/`stride_out` step along that axis, `lines` and
// `line_in`/`line_out` across it; values are bytes of 3-channel pixels.
Image resample_axis(const Image& in, bool horizontal, int out_size) {
  const int in_size = horizontal ? in.width : in.height;
  PassWeights w = pass_weights(in_size, out_size);
  Image out;
  out.width = horizontal ? out_size : in.width;
  out.height = horizontal ? in.height : out_size;
  out.pixels.resize(size_t(out.width) * size_t(out.height) * 3);
  const int lines = horizontal ? in.height : in.width;
  const size_t step_in = horizontal ? 3 : size_t(in.width) * 3;     // bytes between samples along the axis
  const size_t step_out = horizontal ? 3 : size_t(out.width) * 3;
  const size_t line_in = horizontal ? size_t(in.width) * 3 : 3;     // bytes between lines
  const size_t line_out = horizontal ? size_t(out.width) * 3 : 3;
  for (int l = 0; l < lines; l++) {
    const uint8_t* src = in.pixels.data() + size_t(l) * line_in;
    uint8_t* dst = out.pixels.data() + size_t(l) * line_out;
    for (int i = 0; i < out_size; i++) {
      const int32_t* k = w.k.data() + size_t(i) * size_t(w.ksize);
      const uint8_t* s = src + size_t(w.first[size_t(i)]) * step_in;
      for (int c = 0; c < 3; c++) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < w.count[size_t(i)]; x++) acc += int32_t(s[size_t(x) * step_in + size_t(c)]) * k[x];
        dst[size_t(i) * step_out + size_t(c)] = clip8(acc);
      }
    }
  }
  return out;
}

std::array<float, 3> three(const ConfigView& c, const char* key, const nlohmann::json& j) {
  if (!j.contains(key)) return {};
  const auto& v = j[key];
  if (!v.is_array() || v.size() != 3) c.fail(key, "expected a list of 3 numbers");
  std::array<float, 3> out;
  for (size_t i = 0; i < 3; i++) {
    if (!v[i].is_number()) c.fail(key, "expected a list of 3 numbers");
    out[i] = float(v[i].get<double>());
  }
  return out;
}

}  // namespace

Image resize_bicubic(const Image& img, int width, int height) {
  if (width <= 0 || height <= 0) throw Error("resize: size " + std::to_string(width) + "x" + std::to_string(height));
  Image rgb = to_rgb(img);
  if (rgb.width <= 0 || rgb.height <= 0) throw Error("resize: empty image");
  // PIL skips a pass whose axis keeps its size (it would be the identity anyway).
  if (width != rgb.width) rgb = resample_axis(rgb, true, width);
  if (height != rgb.height) rgb = resample_axis(rgb, false, height);
  return rgb;
}

std::pair<int, int> shortest_edge_size(int height, int width, int shortest_edge) {
  const bool portrait = width <= height;
  const int shorter = portrait ? width : height, longer = portrait ? height : width;
  // Python: int(size * long / short), one float division of exact integers.
  const int new_long = int(double(int64_t(shortest_edge) * longer) / double(shorter));
  return portrait ? std::pair{new_long, shortest_edge} : std::pair{shortest_edge, new_long};
}

Image center_crop(const Image& img, int height, int width) {
  Image rgb = to_rgb(img);
  Image out;
  out.width = width;
  out.height = height;
  out.pixels.assign(size_t(width) * size_t(height) * 3, 0);  // the padding transformers adds is zeros
  // transformers crops rows [top, top + crop) with top = (orig - crop) // 2 when the image is
  // large enough; when it is smaller it first pads ceil((crop - orig) / 2) zeros before it and
  // the crop then starts at row 0. Same for columns.
  const int top = rgb.height >= height ? (rgb.height - height) / 2 : -((height - rgb.height + 1) / 2);
  const int left = rgb.width >= width ? (rgb.width - width) / 2 : -((width - rgb.width + 1) / 2);
  for (int y = 0; y < height; y++) {
    const int sy = top + y;
    if (sy < 0 || sy >= rgb.height) continue;
    for (int x = 0; x < width; x++) {
      const int sx = left + x;
      if (sx < 0 || sx >= rgb.width) continue;
      for (int c = 0; c < 3; c++)
        out.pixels[(size_t(y) * size_t(width) + size_t(x)) * 3 + size_t(c)] =
            rgb.pixels[(size_t(sy) * size_t(rgb.width) + size_t(sx)) * 3 + size_t(c)];
    }
  }
  return out;
}

ClipPreprocessConfig load_clip_preprocess_config(const std::string& clip_dir, int model_image_size, std::string* note) {
  ClipPreprocessConfig cfg;
  std::string path = (std::filesystem::path(clip_dir) / "preprocessor_config.json").string();
  bool from_file = std::filesystem::is_directory(clip_dir) && std::filesystem::is_regular_file(path);
  if (from_file) {
    nlohmann::json j = read_json_file(path);
    if (!j.is_object()) throw Error(path + ": not a JSON object");
    ConfigView c(j, path);
    if (c.has("do_resize")) cfg.do_resize = c.boolean("do_resize");
    if (c.has("do_center_crop")) cfg.do_center_crop = c.boolean("do_center_crop");
    if (c.has("do_rescale")) cfg.do_rescale = c.boolean("do_rescale");
    if (c.has("do_normalize")) cfg.do_normalize = c.boolean("do_normalize");
    if (c.has("rescale_factor")) cfg.rescale_factor = c.number("rescale_factor");
    if (c.has("resample") && c.integer("resample", 0, 5) != 3)
      c.fail("resample", "only bicubic (3) is supported, CLIP's filter");
    if (c.has("size")) {
      const auto& s = j["size"];
      if (s.is_number_integer()) {
        cfg.shortest_edge = int(c.integer("size", 1, 1 << 14));
      } else if (s.is_object() && s.contains("shortest_edge")) {
        cfg.shortest_edge = int(ConfigView(s, path + ": size").integer("shortest_edge", 1, 1 << 14));
      } else if (s.is_object()) {
        ConfigView sv(s, path + ": size");
        cfg.shortest_edge = 0;
        cfg.resize_height = int(sv.integer("height", 1, 1 << 14));
        cfg.resize_width = int(sv.integer("width", 1, 1 << 14));
      } else {
        c.fail("size", "expected a number or {shortest_edge} or {height, width}");
      }
    }
    if (c.has("crop_size")) {
      const auto& s = j["crop_size"];
      if (s.is_number_integer()) {
        cfg.crop_height = cfg.crop_width = int(c.integer("crop_size", 1, 1 << 14));
      } else if (s.is_object()) {
        ConfigView sv(s, path + ": crop_size");
        cfg.crop_height = int(sv.integer("height", 1, 1 << 14));
        cfg.crop_width = int(sv.integer("width", 1, 1 << 14));
      } else {
        c.fail("crop_size", "expected a number or {height, width}");
      }
    }
    if (j.contains("image_mean")) cfg.image_mean = three(c, "image_mean", j);
    if (j.contains("image_std")) cfg.image_std = three(c, "image_std", j);
    for (float s : cfg.image_std)
      if (!(s > 0)) c.fail("image_std", "values must be positive");
  }
  const int out_h = cfg.do_center_crop ? cfg.crop_height : cfg.resize_height;
  const int out_w = cfg.do_center_crop ? cfg.crop_width : cfg.resize_width;
  const bool fits = out_h == model_image_size && out_w == model_image_size && cfg.do_resize;
  if (!fits) {
    // The tower takes only image_size x image_size: scale the short side to it and crop.
    if (note)
      *note = std::string(from_file ? path : clip_dir + " has no preprocessor_config.json and the default") +
              " gives " + std::to_string(out_w) + "x" + std::to_string(out_h) + " pixels but the model takes " +
              std::to_string(model_image_size) + "x" + std::to_string(model_image_size) +
              ": resizing the shortest side to " + std::to_string(model_image_size) + " and cropping to that";
    cfg.do_resize = cfg.do_center_crop = true;
    cfg.shortest_edge = cfg.crop_height = cfg.crop_width = model_image_size;
    cfg.resize_height = cfg.resize_width = 0;
  }
  return cfg;
}

std::vector<float> clip_pixel_values(const Image& img, const ClipPreprocessConfig& cfg) {
  Image x = to_rgb(img);
  if (cfg.do_resize) {
    auto [h, w] = cfg.shortest_edge > 0 ? shortest_edge_size(x.height, x.width, cfg.shortest_edge)
                                        : std::pair{cfg.resize_height, cfg.resize_width};
    // A 1x16384 strip would become 224 x 3.7M pixels before the crop: refuse such shapes
    // rather than allocate gigabytes (transformers would try).
    if (int64_t(h) * int64_t(w) > (int64_t(1) << 26))
      throw Error("clip preprocessing: a " + std::to_string(x.width) + "x" + std::to_string(x.height) +
                  " image would be resized to " + std::to_string(w) + "x" + std::to_string(h) +
                  " before cropping; its aspect ratio is too extreme");
    if (h != x.height || w != x.width) x = resize_bicubic(x, w, h);
  }
  if (cfg.do_center_crop) x = center_crop(x, cfg.crop_height, cfg.crop_width);
  const size_t plane = size_t(x.width) * size_t(x.height);
  std::vector<float> out(3 * plane);  // [3,H,W]
  for (size_t c = 0; c < 3; c++)
    for (size_t i = 0; i < plane; i++) {
      // transformers rescales in float64 and stores float32, then normalises in float32.
      float v = cfg.do_rescale ? float(double(x.pixels[i * 3 + c]) * cfg.rescale_factor) : float(x.pixels[i * 3 + c]);
      if (cfg.do_normalize) v = (v - cfg.image_mean[c]) / cfg.image_std[c];
      out[c * plane + i] = v;
    }
  return out;
}

std::vector<float> clip_pixel_values(const std::vector<Image>& images, const ClipPreprocessConfig& cfg) {
  std::vector<float> out;
  for (const Image& img : images) {
    std::vector<float> one = clip_pixel_values(img, cfg);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

}  // namespace sdvk
