#include "gen/micro_conditioning_flags.h"


#include "core/error.h"
#include "pipeline/pipeline.h"

namespace sdvk::cli {

namespace {

// "<a><sep><b>" with both parts plain decimal integers in [lo, hi]; false otherwise.
bool parse_pair(const std::string& v, char sep, int lo, int hi, int* a, int* b) {
  const size_t at = v.find(sep);
  if (at == std::string::npos || at == 0 || at + 1 == v.size()) return false;
  auto number = [&](const std::string& s, int* out) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoi(s);
    return *out >= lo && *out <= hi;
  };
  return number(v.substr(0, at), a) && number(v.substr(at + 1), b);
}

}  // namespace

std::vector<float> MicroConditioning::time_ids(int width, int height) const {
  return pipeline::sdxl_time_ids(original_height ? original_height : height, original_width ? original_width : width,
                                 crop_top, crop_left, height, width);
}

MicroConditioning take_micro_conditioning(Args& args) {
  MicroConditioning m;
  const std::string original = args.take("--original-size"), crop = args.take("--crop-top-left");
  if (!original.empty() && !parse_pair(original, 'x', 1, 65536, &m.original_width, &m.original_height))
    throw Error("--original-size " + original + ": expected WIDTHxHEIGHT in pixels, e.g. 1024x1024");
  if (!crop.empty() && !parse_pair(crop, ',', 0, 65536, &m.crop_top, &m.crop_left))
    throw Error("--crop-top-left " + crop + ": expected Y,X in pixels, e.g. 0,0");
  m.given = !original.empty() || !crop.empty();
  return m;
}

}  // namespace sdvk::cli
