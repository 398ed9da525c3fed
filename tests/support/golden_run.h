// A diffusers text-to-image golden run (runs/NAME.json + NAME.safetensors) replayed through
// `sdvk generate`, and how far the result is from it.
#pragma once
#include <string>

#include "tests/support/cli_run.h"

namespace sdvk::test {

struct GoldenRun {
  std::string name, args;  // the flags that describe the run (its .json)
  int batch;
};

// Max relative error of the latents and max pixel difference of the PNGs against the run.
struct GoldenDiff {
  double latent_rel = 0;
  int pixel = 0;
};

// `generate --quiet --model MODEL ARGS EXTRA` writing dir/img-{index}.png and dir/latents.safetensors.
CliResult generate_run(const std::string& model, const GoldenRun& run, const TempDir& dir, const std::string& extra);

// Compares what generate_run wrote with runs_dir/NAME.safetensors ("latents", "image_u8").
GoldenDiff compare_run(const std::string& runs_dir, const GoldenRun& run, const TempDir& dir);

}  // namespace sdvk::test
