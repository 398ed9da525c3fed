// The generation record other Stable Diffusion tools read from a PNG's "parameters" text
// chunk (AUTOMATIC1111's format, also read by ComfyUI, InvokeAI and image viewers):
//   PROMPT (any number of lines)
//   Negative prompt: NEGATIVE (any number of lines; the line is absent when there is none)
//   Steps: 25, Sampler: ddim, CFG scale: 7.5, Seed: 42, Size: 512x512, Model hash: abcd1234, Model: name, Version: sdvk 0.1.0
// Values holding ',', ':' or a newline are written as JSON strings, as the original does.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sdvk {

struct GenerationParameters {
  std::string prompt, negative_prompt;
  int steps = 0;
  std::string sampler;  // scheduler name
  double cfg_scale = 0;
  uint64_t seed = 0;
  int width = 0, height = 0;
  std::string model, model_hash, version;  // left out of the text when empty
  // Further "Key: value" pairs in order (e.g. {"Clip skip", "2"}, {"Denoising strength", "0.75"}).
  std::vector<std::pair<std::string, std::string>> extra;
};

// The text for the "parameters" chunk. cfg_scale is written in the shortest form that reads
// back to the same double.
std::string format_parameters(const GenerationParameters& p);

// Reads the format back: the last line is the settings line when it holds key: value pairs
// (Steps, Sampler, CFG scale, Seed, Size, Model hash, Model, Version fill their fields, other
// keys go to `extra`); the lines before it are the prompt up to a line starting with
// "Negative prompt: ", and the negative prompt after it. Text without a settings line is all
// prompt. Throws Error for a known key whose value does not parse (e.g. "Seed: abc").
GenerationParameters parse_parameters(const std::string& text);

}  // namespace sdvk
