// What the pipeline decides around the networks: where bundled models and the fallback tokenizer
// are, and the scheduler config StableDiffusionPipeline would use.
#pragma once
#include <string>

#include "model/weights.h"

namespace sdvk::pipeline {

// The folder bundled models live in: $SDVK_DATA_DIR, else the source tree's models/.
std::string data_dir();
// The model's tokenizer/ folder, else the bundled CLIP BPE tokenizer (single-file SD
// checkpoints carry none; SD 1.x and 2.x both use CLIP's vocabulary).
std::string tokenizer_path(const WeightSet& weights);
// The model's scheduler config with what StableDiffusionPipeline forces on old configs:
// steps_offset 1 and clip_sample false. Error when the model has none.
nlohmann::json scheduler_config(const WeightSet& weights);

}  // namespace sdvk::pipeline
