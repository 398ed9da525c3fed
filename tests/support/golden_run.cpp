#include "tests/support/golden_run.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "image/image.h"

namespace sdvk::test {

CliResult generate_run(const std::string& model, const GoldenRun& run, const TempDir& dir, const std::string& extra) {
  return run_cli("generate --quiet --model " + model + " " + run.args + " --output " + (dir / "img-{index}.png") +
                 " --save-latents " + (dir / "latents.safetensors") + " " + extra);
}

GoldenDiff compare_run(const std::string& runs_dir, const GoldenRun& run, const TempDir& dir) {
  GoldenDiff d;
  const std::string golden = runs_dir + "/" + run.name + ".safetensors";
  std::vector<float> want = tensor_values(golden, "latents");
  std::vector<float> got = tensor_values(dir / "latents.safetensors", "latents");
  EXPECT_EQ(got.size(), want.size());
  double peak = 0, err = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); i++) {
    peak = std::max(peak, double(std::fabs(want[i])));
    err = std::max(err, double(std::fabs(got[i] - want[i])));
  }
  d.latent_rel = err / peak;
  std::vector<float> u8 = tensor_values(golden, "image_u8");  // [B,3,H,W]
  for (int k = 0; k < run.batch; k++) {
    Image img = read_image(dir / ("img-" + std::to_string(k) + ".png"));
    const size_t H = size_t(img.height), W = size_t(img.width), per = 3 * H * W;
    EXPECT_EQ(u8.size(), per * size_t(run.batch));
    if (u8.size() != per * size_t(run.batch)) return d;
    for (size_t c = 0; c < 3; c++)
      for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++)
          d.pixel = std::max(d.pixel, std::abs(int(img.pixels[(y * W + x) * 3 + c]) -
                                               int(u8[size_t(k) * per + (c * H + y) * W + x])));
  }
  return d;
}

}  // namespace sdvk::test
