// LoRA files merged into a model's weights at load: for every layer a file names,
//   W += weight * (alpha / rank) * up @ down
// (rank = down's output size; no alpha means alpha = rank). up @ down is taken over the
// flattened shapes, so linear layers, 1x1 and 3x3 convolutions ("LoCon") and a conv LoRA on a
// linear layer (or the reverse) all work when the element counts agree.
//
// Key formats (recognised per file, never mixed):
//   kohya / AUTOMATIC1111: lora_unet_<module>.lora_down.weight, .lora_up.weight, .alpha, with
//     <module> the diffusers module path with '.' written '_' (lora_unet_down_blocks_0_...);
//     lora_te_<module> for the text encoder (transformers names, text_model_encoder_...).
//   diffusers / PEFT: unet.<module>.lora_A.weight, .lora_B.weight (text_encoder.<module>...),
//     optional <module>.alpha.
// A key naming no layer, a shape that does not fit, a file of another format or a LoRA for a
// component the model lacks is an Error naming the file and key; `lenient` skips such keys and
// counts them instead.
#pragma once
#include <string>
#include <vector>

#include "model/weights.h"

namespace sdvk {

struct LoraSpec {
  std::string path;
  float weight = 1.0f;
};

// "FILE" or "FILE:WEIGHT" (the last ':' followed by a number), as --lora takes it.
LoraSpec parse_lora_spec(const std::string& text);

// AUTOMATIC1111's prompt syntax: removes every <lora:NAME> and <lora:NAME:WEIGHT> from `prompt`
// and returns them as <lora_dir>/NAME.safetensors. A name with a path separator or "..", a
// weight that is not a number, or a tag with `lora_dir` empty is an Error quoting the tag.
std::vector<LoraSpec> take_prompt_loras(std::string& prompt, const std::string& lora_dir);

struct LoraApplied {
  std::string path;
  int layers = 0;                    // layers merged
  std::vector<std::string> skipped;  // keys skipped (lenient only)
};

// Merges the files in order. The affected tensors become float32 copies owned by their
// component; all others stay in their file mappings. Weight 0 leaves the weights untouched.
std::vector<LoraApplied> apply_loras(WeightSet& weights, const std::vector<LoraSpec>& loras, bool lenient = false);

}  // namespace sdvk
