// What the pipeline decides around the networks: where bundled models and the fallback tokenizer
// are, and the scheduler config StableDiffusionPipeline would use.
#pragma once
#include <string>

#include "model/weights.h"

namespace sdvk::pipeline {

// The folder bundled models live in: $SDVK_DATA_DIR, else the source tree's models/.
std::string data_dir();
// Whether `path` names an SDXL model (a pipeline folder listing text_encoder_2, or a single
// file with conditioner.embedders.* tensors), from its index or header alone; false when it
// cannot tell (loading reports what is wrong).
bool looks_like_sdxl(const std::string& path);
// The model's tokenizer/ folder, else the bundled CLIP BPE tokenizer (single-file SD
// checkpoints carry none; SD 1.x and 2.x both use CLIP's vocabulary).
std::string tokenizer_path(const WeightSet& weights);
// SDXL's second tokenizer: the model's tokenizer_2/ folder, else the same bundled one (its "!"
// padding comes from tokenizer_pad).
std::string tokenizer_2_path(const WeightSet& weights);
// The id text `encoder`'s windows are padded with: -1 (the tokenizer's own) except for single
// files, which carry no tokenizer: there the pad the released tokenizer uses, which the loader
// put in the encoder's pad_token_id (SD 2.x's and SDXL's OpenCLIP pad with "!", id 0).
int tokenizer_pad(const WeightSet& weights, const std::string& encoder);
// The model's scheduler config with what StableDiffusionPipeline forces on old configs:
// steps_offset 1 and clip_sample false. Error when the model has none.
nlohmann::json scheduler_config(const WeightSet& weights);

}  // namespace sdvk::pipeline
