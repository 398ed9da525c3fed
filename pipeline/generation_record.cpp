#include "pipeline/generation_record.h"

#include <cstdio>
#include <filesystem>

#include "model/file_hash.h"

namespace sdvk::pipeline {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

GenerationParameters GenerationRecord::parameters(int batch_pos, double clip_score) const {
  GenerationParameters p;
  p.prompt = prompt;
  p.negative_prompt = negative_prompt;
  p.steps = steps;
  p.sampler = scheduler;
  p.cfg_scale = cfg_scale;
  p.seed = seed;
  p.width = width;
  p.height = height;
  p.model = std::filesystem::path(model).filename().string();
  p.model_hash = model_hash;
  p.version = std::string("sdvk ") + SDVK_VERSION;
  if (batch > 1) {
    p.extra.push_back({"Batch size", std::to_string(batch)});
    p.extra.push_back({"Batch pos", std::to_string(batch_pos)});
  }
  if (clip_skip > 0) p.extra.push_back({"Clip skip", std::to_string(clip_skip + 1)});  // A1111 counts from 1
  if (!init_image.empty()) p.extra.push_back({"Denoising strength", number(strength)});
  if (!lora_hashes.empty()) p.extra.push_back({"Lora hashes", lora_hashes});
  if (clip_score >= 0) p.extra.push_back({"CLIP score", number(clip_score)});
  return p;
}

ModelHashes model_hashes(const std::string& model_path, const std::vector<LoraSpec>& loras) {
  ModelHashes h;
  std::error_code ec;
  if (std::filesystem::is_regular_file(model_path, ec)) h.model = short_file_hash(model_path);
  for (const LoraSpec& l : loras)
    h.loras += (h.loras.empty() ? "" : ", ") + std::filesystem::path(l.path).stem().string() + ": " +
               short_file_hash(l.path);
  return h;
}

}  // namespace sdvk::pipeline
