#include "model/lora.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>

#include "model/name_mapping.h"
#include "model/tensor_convert.h"
#include "core/error.h"

namespace sdvk {

namespace {

// One layer's low-rank pair as a file stores it.
struct LoraLayer {
  std::string component;  // "unet", "text_encoder"
  std::string module;     // the file's name for the layer, for messages and lookup
  const TensorInfo* down = nullptr;
  const TensorInfo* up = nullptr;
  const TensorInfo* alpha = nullptr;
};

enum class LoraFormat { Kohya, Peft };

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

// kohya's component prefixes (SDXL's second text encoder is lora_te2_).
const std::vector<std::pair<std::string, std::string>> kKohyaPrefixes = {
    {"lora_unet_", "unet"}, {"lora_te_", "text_encoder"}, {"lora_te1_", "text_encoder"}, {"lora_te2_", "text_encoder_2"}};

LoraFormat detect_format(const SafetensorsFile& file) {
  bool kohya = false, peft = false;
  for (const TensorInfo& t : file.tensors()) {
    for (auto& [prefix, _] : kKohyaPrefixes) kohya |= starts_with(t.name, prefix);
    peft |= t.name.find(".lora_A.") != std::string::npos || t.name.find(".lora_B.") != std::string::npos;
  }
  if (kohya && peft) throw Error(file.path() + ": mixes kohya (lora_unet_...) and PEFT (lora_A/lora_B) keys");
  if (!kohya && !peft)
    throw Error(file.path() + ": not a LoRA file (no lora_unet_/lora_te_ keys and no lora_A/lora_B keys)");
  return kohya ? LoraFormat::Kohya : LoraFormat::Peft;
}

// Splits "<module>.<suffix>" for the format's three suffixes; false for anything else.
bool split_key(const std::string& name, LoraFormat format, std::string& module, std::string& part) {
  static const std::vector<std::pair<std::string, std::string>> kohya = {
      {".lora_down.weight", "down"}, {".lora_up.weight", "up"}, {".alpha", "alpha"}};
  static const std::vector<std::pair<std::string, std::string>> peft = {
      {".lora_A.weight", "down"}, {".lora_B.weight", "up"}, {".alpha", "alpha"}};
  for (auto& [suffix, p] : format == LoraFormat::Kohya ? kohya : peft) {
    if (ends_with(name, suffix)) {
      module = name.substr(0, name.size() - suffix.size());
      part = p;
      return true;
    }
  }
  return false;
}

// The component a module belongs to, and the module name without the component prefix.
bool split_component(const std::string& module, LoraFormat format, std::string& component, std::string& rest) {
  if (format == LoraFormat::Kohya) {
    for (auto& [prefix, c] : kKohyaPrefixes) {
      if (starts_with(module, prefix)) {
        component = c;
        rest = module.substr(prefix.size());
        return true;
      }
    }
    return false;
  }
  size_t dot = module.find('.');
  if (dot == std::string::npos) return false;
  component = module.substr(0, dot);
  rest = module.substr(dot + 1);
  return component == "unet" || component == "text_encoder" || component == "text_encoder_2";
}

// Groups the file's keys into layers; a key of no known form is a problem.
std::vector<LoraLayer> read_layers(const SafetensorsFile& file, LoraFormat format, std::vector<std::string>& problems) {
  std::map<std::string, LoraLayer> layers;
  for (const TensorInfo& t : file.tensors()) {
    std::string module, part, component, rest;
    if (!split_key(t.name, format, module, part) || !split_component(module, format, component, rest)) {
      problems.push_back(t.name + ": not a LoRA key this loader knows (LoHa, LoKr and DoRA are not supported)");
      continue;
    }
    LoraLayer& l = layers[module];
    l.component = component;
    l.module = rest;
    (part == "down" ? l.down : part == "up" ? l.up : l.alpha) = &t;
  }
  std::vector<LoraLayer> out;
  for (auto& [module, l] : layers) {
    if (!l.down || !l.up)
      problems.push_back(module + ": has " + (l.down ? "a down" : l.up ? "an up" : "only an alpha") +
                         " matrix but not both");
    else
      out.push_back(l);
  }
  return out;
}

// Module name as a LoRA file writes it -> the component's weight tensor name. kohya writes the
// module path with '.' as '_', so every "<module>.weight" of the component is indexed that way;
// its SDXL files name UNet layers as the original checkpoint does (input_blocks_4_1_...), so
// the UNet's layers are indexed under those names too.
class LayerIndex {
 public:
  LayerIndex(const Component& c, LoraFormat format) {
    int layers = 0;
    std::vector<bool> up_attention;
    if (c.kind == ComponentKind::UNet) {
      layers = c.config.value("layers_per_block", 0);
      for (const auto& t : c.config.value("up_block_types", nlohmann::json::array()))
        up_attention.push_back(t == "CrossAttnUpBlock2D");
    }
    for (auto& [name, _] : c.tensors) {
      if (!ends_with(name, ".weight")) continue;
      add(name.substr(0, name.size() - 7), name, format);
      if (format == LoraFormat::Kohya && c.kind == ComponentKind::UNet) {
        const std::string ldm = diffusers_unet_name_to_ldm(name, layers, up_attention);
        if (!ldm.empty()) add(ldm.substr(0, ldm.size() - 7), name, format);
      }
    }
  }
  void add(std::string module, const std::string& name, LoraFormat format) {
    if (format == LoraFormat::Kohya)
      for (char& ch : module)
        if (ch == '.') ch = '_';
    auto [it, fresh] = index_.emplace(module, name);
    if (!fresh && it->second != name) it->second.clear();  // two layers under one underscored name: ambiguous
  }
  // "" when no layer (or more than one) has that name.
  std::string find(const std::string& module) const {
    auto it = index_.find(module);
    return it == index_.end() ? "" : it->second;
  }

 private:
  std::map<std::string, std::string> index_;
};

// alpha / rank, with alpha = rank when the file stores none.
float alpha_over_rank(const LoraLayer& l, int64_t rank, const std::string& where) {
  if (!l.alpha) return 1.0f;
  std::vector<float> a = to_f32(*l.alpha);
  if (a.size() != 1) throw Error(where + ": alpha has " + std::to_string(a.size()) + " values, not 1");
  return a[0] / float(rank);
}

// W + scale * up @ down over the flattened shapes, or a problem when the shapes do not fit W.
bool merge_layer(const LoraLayer& l, const TensorInfo& w, float scale, std::vector<float>& merged,
                 std::string& problem) {
  const std::vector<int64_t>& ds = l.down->shape;
  const std::vector<int64_t>& us = l.up->shape;
  int64_t rank = ds.empty() ? 0 : ds[0], out = w.shape.empty() ? 0 : w.shape[0];
  int64_t in = rank > 0 ? l.down->numel() / rank : 0;
  bool fits = rank > 0 && !us.empty() && us[0] == out && l.up->numel() == out * rank && out * in == w.numel();
  if (!fits) {
    problem = "down " + shape_string(ds) + " and up " + shape_string(us) + " do not fit " + shape_string(w.shape);
    return false;
  }
  scale *= alpha_over_rank(l, rank, l.module);
  std::vector<float> down = to_f32(*l.down), up = to_f32(*l.up);
  merged = to_f32(w);
  for (int64_t o = 0; o < out; o++) {
    for (int64_t i = 0; i < in; i++) {
      double sum = 0.0;  // the rank is small: an exact-ish sum costs nothing
      for (int64_t r = 0; r < rank; r++) sum += double(up[size_t(o * rank + r)]) * double(down[size_t(r * in + i)]);
      merged[size_t(o * in + i)] += float(double(scale) * sum);
    }
  }
  return true;
}

}  // namespace

LoraSpec parse_lora_spec(const std::string& text) {
  LoraSpec spec{text, 1.0f};
  size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    const std::string tail = text.substr(colon + 1);
    char* end = nullptr;
    float w = std::strtof(tail.c_str(), &end);
    if (!tail.empty() && end && *end == '\0') {
      if (!std::isfinite(w)) throw Error("the weight is not a finite number");
      spec = {text.substr(0, colon), w};
    }
  }
  if (spec.path.empty()) throw Error("no file named");
  return spec;
}

std::vector<LoraSpec> take_prompt_loras(std::string& prompt, const std::string& lora_dir) {
  std::vector<LoraSpec> out;
  size_t at;
  while ((at = prompt.find("<lora:")) != std::string::npos) {
    size_t end = prompt.find('>', at);
    if (end == std::string::npos) throw Error("\"" + printable(prompt.substr(at, 40)) + "\" has no closing '>'");
    const std::string tag = prompt.substr(at, end + 1 - at), body = tag.substr(6, tag.size() - 7);
    size_t colon = body.find(':');
    std::string name = body.substr(0, colon);
    float weight = 1.0f;
    if (colon != std::string::npos) {
      const std::string w = body.substr(colon + 1);
      char* stop = nullptr;
      weight = std::strtof(w.c_str(), &stop);
      if (w.empty() || *stop != '\0' || !std::isfinite(weight))
        throw Error(printable(tag) + ": the weight is not a number");
    }
    if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos)
      throw Error(printable(tag) + ": a LoRA is named by its file name in the LoRA folder, without a path");
    if (lora_dir.empty()) throw Error(printable(tag) + " needs a LoRA folder (--lora-dir)");
    out.push_back({lora_dir + "/" + name + ".safetensors", weight});
    prompt.erase(at, tag.size());
  }
  return out;
}

std::vector<LoraApplied> apply_loras(WeightSet& weights, const std::vector<LoraSpec>& loras, bool lenient) {
  std::vector<LoraApplied> report;
  for (const LoraSpec& spec : loras) {
    if (!ends_with(spec.path, ".safetensors"))
      throw Error(spec.path + ": LoRA files are read as .safetensors only (pickled .pt/.ckpt files can run code)");
    SafetensorsFile file(spec.path);
    LoraFormat format = detect_format(file);
    std::vector<std::string> problems;
    std::vector<LoraLayer> layers = read_layers(file, format, problems);
    std::map<std::string, LayerIndex> indexes;
    LoraApplied applied{spec.path, 0, {}};
    std::vector<std::pair<std::string, std::pair<std::string, std::vector<float>>>> merges;  // component, name, W'
    for (const LoraLayer& l : layers) {
      if (!weights.has(l.component)) {
        problems.push_back(l.module + ": a " + l.component + " layer, and " + weights.path() + " has no " + l.component);
        continue;
      }
      const Component& c = weights.component(l.component);
      auto idx = indexes.try_emplace(l.component, c, format).first;
      std::string name = idx->second.find(l.module);
      if (name.empty()) {
        problems.push_back(l.module + ": no " + l.component + " layer of that name");
        continue;
      }
      std::vector<float> merged;
      std::string problem;
      if (!merge_layer(l, c.tensor(name), spec.weight, merged, problem)) {
        problems.push_back(l.module + ": " + problem);
        continue;
      }
      merges.push_back({l.component, {name, std::move(merged)}});
    }
    if (!problems.empty() && !lenient)
      throw Error(spec.path + ": " + problems.front() +
                  (problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : ""));
    applied.skipped = problems;
    applied.layers = int(merges.size());
    if (spec.weight != 0.0f) {  // weight 0: checked, and the weights stay bit-identical
      for (auto& [component, nm] : merges) {
        auto data = std::make_shared<const std::vector<float>>(std::move(nm.second));
        weights.replace_tensor(component, nm.first, data, spec.path);
      }
    }
    report.push_back(std::move(applied));
  }
  return report;
}

}  // namespace sdvk
