// `sdvk inspect FILE|DIR [--tensors]`: what a weights file or folder holds (format, model family,
// architecture as loaded) and its tensor statistics, without touching a GPU.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "core/error.h"
#include "gen/cli.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace sdvk::cli {

namespace {

struct TensorStats {
  size_t count = 0;
  std::map<std::string, size_t> dtypes;
  uint64_t bytes = 0, parameters = 0;

  void add(const SafetensorsFile& f) {
    for (auto& t : f.tensors()) {
      count++;
      dtypes[file_dtype_name(t.dtype)]++;
      bytes += t.size;
      parameters += uint64_t(t.numel());
    }
  }
};

std::string human(double n, const char* const* units, double step) {
  int u = 0;
  while (n >= step && units[u + 1]) {
    n /= step;
    u++;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f%s", n, units[u]);
  return buf;
}

std::string human_bytes(uint64_t n) {
  static const char* const kUnits[] = {" B", "KiB", "MiB", "GiB", "TiB", nullptr};
  return human(double(n), kUnits, 1024);
}

std::string human_count(uint64_t n) {
  static const char* const kUnits[] = {"", "K", "M", "G", nullptr};
  return human(double(n), kUnits, 1000);
}

std::string list(const nlohmann::json& v) {
  if (!v.is_array()) return v.dump();
  std::string s = "[";
  for (size_t i = 0; i < v.size(); i++)
    s += (i ? ", " : "") + (v[i].is_string() ? v[i].get<std::string>() : v[i].dump());
  return s + "]";
}

std::string text_tower(const nlohmann::json& c) {
  return "width " + c["hidden_size"].dump() + ", " + c["num_hidden_layers"].dump() + " layers, heads " +
         c["num_attention_heads"].dump() + ", MLP " + c["intermediate_size"].dump() + ", " + c.value("hidden_act", "?");
}

// The architecture in one line, from the config the loader settled on.
std::string summary(const Component& c) {
  const nlohmann::json& g = c.config;
  switch (c.kind) {
    case ComponentKind::UNet:
      return "channels " + list(g["block_out_channels"]) + ", " + g["layers_per_block"].dump() + " layers per block, " +
             "down " + list(g["down_block_types"]) + ", cross-attention width " + g["cross_attention_dim"].dump() +
             ", attention_head_dim " + list(g["attention_head_dim"]) + ", transformer depth " +
             g["transformer_layers_per_block"].dump() + ", " +
             (g.value("use_linear_projection", false) ? "linear" : "conv") + " projection, in " +
             g["in_channels"].dump() + " / out " + g["out_channels"].dump() + " channels, norm groups " +
             g["norm_num_groups"].dump();
    case ComponentKind::VAE: {
      size_t levels = g["block_out_channels"].size();
      return "channels " + list(g["block_out_channels"]) + ", " + g["layers_per_block"].dump() + " layers per block, " +
             g["latent_channels"].dump() + " latent channels at 1/" + std::to_string(1 << (levels - 1)) +
             " resolution, norm groups " + g["norm_num_groups"].dump() + ", scaling_factor " +
             g["scaling_factor"].dump();
    }
    case ComponentKind::TextEncoder:
    case ComponentKind::TextEncoderWithProjection:
      return text_tower(g) + ", vocabulary " + g["vocab_size"].dump() + ", " + g["max_position_embeddings"].dump() +
             " positions" +
             (c.kind == ComponentKind::TextEncoderWithProjection ? ", projection " + g["projection_dim"].dump()
                                                                 : std::string());
    case ComponentKind::CLIP: {
      const nlohmann::json& v = g["vision_config"];
      return "text: " + text_tower(g["text_config"]) + "; vision: " + text_tower(v) + ", " + v["image_size"].dump() +
             " px in " + v["patch_size"].dump() + " px patches; projection " + g["projection_dim"].dump();
    }
  }
  return "";
}

const char* content_name(FileContent c) {
  switch (c) {
    case FileContent::SDCheckpoint: return "original Stable Diffusion checkpoint";
    case FileContent::SDXLCheckpoint: return "SDXL checkpoint";
    case FileContent::LdmVAE: return "VAE in original Stable Diffusion layout";
    case FileContent::DiffusersUNet: return "diffusers UNet";
    case FileContent::DiffusersVAE: return "diffusers VAE";
    case FileContent::CLIPText: return "transformers CLIP text encoder";
    case FileContent::CLIP: return "transformers CLIP model";
    case FileContent::Unknown: return "not a recognised model";
  }
  return "?";
}

void print_stats(const TensorStats& s) {
  std::string dtypes;
  for (auto& [name, n] : s.dtypes) dtypes += (dtypes.empty() ? "" : ", ") + name + " " + std::to_string(n);
  std::printf("tensors:      %zu (%s)\n", s.count, dtypes.c_str());
  std::printf("bytes:        %llu (%s)\n", (unsigned long long)s.bytes, human_bytes(s.bytes).c_str());
  std::printf("parameters:   %llu (%s)\n", (unsigned long long)s.parameters, human_count(s.parameters).c_str());
}

void print_tensors(const SafetensorsFile& f) {
  std::printf("\n%s:\n", f.path().c_str());
  for (auto& t : f.tensors())
    std::printf("  %s  %s  %s\n", printable(t.name).c_str(), file_dtype_name(t.dtype), shape_string(t.shape).c_str());
}

void print_notes(const char* title, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  std::printf("%s\n", title);
  for (auto& l : lines) std::printf("  - %s\n", l.c_str());
}

}  // namespace

int cmd_inspect(Args& args) {
  bool show_tensors = args.take_flag("--tensors");
  if (args.take_flag("--help")) {
    std::printf(
        "usage: sdvk inspect FILE|DIR [--tensors]\n"
        "  FILE: a .safetensors file (an original Stable Diffusion checkpoint or one network)\n"
        "  DIR:  a diffusers pipeline folder or one component folder (config.json + weights)\n"
        "  --tensors  list every tensor: name, dtype, shape\n");
    return 0;
  }
  if (args.rest().size() != 1) throw Error("inspect: expected one FILE or DIR (see --help)");
  std::string path = args.rest()[0];
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such file or directory");

  std::string format;
  if (!std::filesystem::is_directory(path, ec)) {
    refuse_pickle_checkpoint(path);
    SafetensorsFile file(path);
    FileContent content = classify_safetensors(file);
    if (content == FileContent::Unknown) {  // a plain tensor file: its statistics are all there is
      TensorStats stats;
      stats.add(file);
      std::printf("path:         %s\nformat:       %s (%s)\n", path.c_str(),
                  weight_format_name(WeightFormat::SingleFile), content_name(content));
      print_stats(stats);
      if (show_tensors) print_tensors(file);
      return 0;
    }
    format = std::string(weight_format_name(WeightFormat::SingleFile)) + " (" + content_name(content) + ")";
  }

  WeightSet w = WeightSet::load(path);
  TensorStats stats;
  for (auto& f : w.files()) stats.add(*f);
  std::printf("path:         %s\n", path.c_str());
  std::printf("format:       %s\n", format.empty() ? weight_format_name(w.format()) : format.c_str());
  std::printf("family:       %s\n", w.family().c_str());
  print_stats(stats);
  for (auto& [name, c] : w.components()) {
    std::string label = name + ":";
    label.resize(std::max<size_t>(14, label.size() + 1), ' ');  // text_encoder_2 is wider than the column
    std::printf("%s%s, %s parameters%s\n", label.c_str(), component_class_name(c.kind),
                human_count(c.parameters()).c_str(), c.config_inferred ? " (config read off the tensor shapes)" : "");
    std::printf("              %s\n", summary(c).c_str());
  }
  if (!w.scheduler_config().is_null())
    std::printf("scheduler:    %s\n", w.scheduler_config().value("_class_name", std::string("?")).c_str());
  if (!w.tokenizer_dir().empty()) std::printf("tokenizer:    %s\n", w.tokenizer_dir().c_str());
  if (!w.tokenizer_2_dir().empty()) std::printf("tokenizer_2:  %s\n", w.tokenizer_2_dir().c_str());
  print_notes("config values not stored in the file (override when they differ):", w.assumptions());
  if (!w.ignored().empty())
    std::printf("ignored:      %zu tensor%s the networks do not use (buffers, EMA copies, ...)\n", w.ignored().size(),
                w.ignored().size() == 1 ? "" : "s");
  print_notes("warnings:", w.warnings());
  if (show_tensors)
    for (auto& f : w.files()) print_tensors(*f);
  return 0;
}

}  // namespace sdvk::cli
