// What made a prompt's images, written into each PNG's "parameters" chunk (AUTOMATIC1111's
// format, image/parameters.h) so an image can be regenerated and other tools can read it.
// The one record of a run: the command fills it once per prompt, and each image adds only its
// position in the batch and its CLIP score when it is written.
#pragma once
#include <cstdint>
#include <string>

#include <vector>

#include "image/parameters.h"
#include "model/lora.h"

namespace sdvk::pipeline {

struct GenerationRecord {
  std::string prompt, negative_prompt, scheduler, init_image;
  std::string model;  // the model's path; the record states its file or folder name
  std::string model_hash;   // "Model hash": 10 hex digits of the checkpoint file's SHA-256, "" for folders
  std::string lora_hashes;  // "Lora hashes": "NAME: HASH, ..." of the merged LoRAs, "" for none
  int steps = 0, width = 0, height = 0, batch = 1, clip_skip = 0;
  double cfg_scale = 0, strength = 0;
  uint64_t seed = 0;

  // The record of image `batch_pos`, CLIP score `clip_score` (< 0: not scored), in A1111's
  // fields and its extra keys (Batch size/pos, Clip skip, Denoising strength, CLIP score).
  GenerationParameters parameters(int batch_pos, double clip_score) const;
};

// The hashes AUTOMATIC1111 writes for a model and its LoRAs (model/file_hash.h: cached, so a
// checkpoint is read in full once).
struct ModelHashes {
  std::string model, loras;
};
ModelHashes model_hashes(const std::string& model_path, const std::vector<LoraSpec>& loras);

}  // namespace sdvk::pipeline
