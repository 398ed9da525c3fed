#include "model/name_mapping.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace sdvk {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// A small cursor over a dotted name: "input_blocks.4.1.proj_in.weight".
struct NameCursor {
  const std::string& s;
  size_t pos = 0;

  bool literal(const char* lit) {
    std::string l(lit);
    if (s.compare(pos, l.size(), l) != 0) return false;
    pos += l.size();
    return true;
  }
  // "<digits>." -> the number (at most 5 digits: no real checkpoint has more blocks).
  bool index(int* out) {
    size_t end = pos;
    while (end < s.size() && end - pos < 6 && s[end] >= '0' && s[end] <= '9') end++;
    if (end == pos || end - pos > 5 || end >= s.size() || s[end] != '.') return false;
    *out = std::stoi(s.substr(pos, end - pos));
    pos = end + 1;
    return true;
  }
  std::string rest() const { return s.substr(pos); }
};

// LDM ResBlock sub-module names -> diffusers ResnetBlock2D names ("" if not one of them).
std::string unet_resnet_rest(const std::string& r) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"in_layers.0.", "norm1."},  {"in_layers.2.", "conv1."},  {"emb_layers.1.", "time_emb_proj."},
      {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."}};
  for (auto& [from, to] : kRenames)
    if (starts_with(r, from)) return to + r.substr(std::string(from).size());
  return "";
}

std::string vae_resnet_rest(const std::string& r) {
  if (starts_with(r, "nin_shortcut.")) return "conv_shortcut." + r.substr(13);
  for (const char* ok : {"norm1.", "conv1.", "norm2.", "conv2."})
    if (starts_with(r, ok)) return r;
  return "";
}

// VAE mid-block attention: LDM's q / k / v / proj_out (1x1 convs), or the to_q ... names that
// diffusers' own diffusers-to-original script leaves in place.
std::string vae_attention_rest(const std::string& r) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"norm.", "group_norm."},   {"q.", "to_q."},    {"k.", "to_k."},    {"v.", "to_v."},
      {"proj_out.", "to_out.0."}, {"to_q.", "to_q."}, {"to_k.", "to_k."}, {"to_v.", "to_v."},
      {"to_out.0.", "to_out.0."}};
  for (auto& [from, to] : kRenames)
    if (starts_with(r, from)) return to + r.substr(std::string(from).size());
  return "";
}

// A 1x1 conv weight [C, C, 1, 1] (or conv1d [C, C, 1]) viewed as the linear weight [C, C]:
// same bytes, same order.
TensorInfo as_linear(TensorInfo t) {
  if (t.shape.size() > 2) {
    bool ones = true;
    for (size_t i = 2; i < t.shape.size(); i++) ones = ones && t.shape[i] == 1;
    if (ones) t.shape.resize(2);
  }
  return t;
}

// Rows [part * rows, (part + 1) * rows) of a tensor whose first dimension is 3 * rows.
TensorInfo third(const TensorInfo& t, int part) {
  TensorInfo out = t;
  out.shape[0] = t.shape[0] / 3;
  out.size = t.size / 3;
  out.data = t.data + size_t(part) * out.size;
  return out;
}

}  // namespace

TensorMap ldm_unet_to_diffusers(const TensorMap& ldm, const std::string& where, std::vector<std::string>* unknown) {
  // Layers per block: the first downsampler, "input_blocks.N.0.op", sits at N = layers + 1
  // (with one level there is none, and the input blocks after conv_in are all resnets).
  int first_op = -1, last_input = 0;
  for (auto& [name, t] : ldm) {
    NameCursor c{name};
    int n = 0, m = 0;
    if (c.literal("input_blocks.") && c.index(&n) && c.index(&m)) {
      last_input = std::max(last_input, n);
      if (m == 0 && c.literal("op.") && (first_op < 0 || n < first_op)) first_op = n;
    }
  }
  int per_level = first_op > 0 ? first_op : last_input + 1;  // resnets per level + its downsampler
  if (per_level < 2)
    throw Error(where + ": UNet input_blocks layout not understood (downsampler at input_blocks." +
                std::to_string(first_op) + ")");

  TensorMap out;
  for (auto& [name, t] : ldm) {
    NameCursor c{name};
    int n = 0, m = 0;
    std::string to;
    if (c.literal("time_embed.0.")) {
      to = "time_embedding.linear_1." + c.rest();
    } else if (c.literal("time_embed.2.")) {
      to = "time_embedding.linear_2." + c.rest();
    } else if (c.literal("label_emb.0.0.")) {  // SDXL's add_embedding
      to = "add_embedding.linear_1." + c.rest();
    } else if (c.literal("label_emb.0.2.")) {
      to = "add_embedding.linear_2." + c.rest();
    } else if (c.literal("out.0.")) {
      to = "conv_norm_out." + c.rest();
    } else if (c.literal("out.2.")) {
      to = "conv_out." + c.rest();
    } else if (c.literal("input_blocks.") && c.index(&n) && c.index(&m)) {
      std::string level = "down_blocks." + std::to_string((n - 1) / per_level) + ".";
      std::string layer = std::to_string((n - 1) % per_level);
      std::string r = c.rest();
      if (n == 0 && m == 0)
        to = "conv_in." + r;
      else if (n > 0 && m == 0 && starts_with(r, "op."))
        to = level + "downsamplers.0.conv." + r.substr(3);
      else if (n > 0 && m == 0 && !unet_resnet_rest(r).empty())
        to = level + "resnets." + layer + "." + unet_resnet_rest(r);
      else if (n > 0 && m == 1)
        to = level + "attentions." + layer + "." + r;
    } else if (c.literal("middle_block.") && c.index(&m)) {
      std::string r = c.rest();
      if (m == 0 && !unet_resnet_rest(r).empty())
        to = "mid_block.resnets.0." + unet_resnet_rest(r);
      else if (m == 1)
        to = "mid_block.attentions.0." + r;
      else if (m == 2 && !unet_resnet_rest(r).empty())
        to = "mid_block.resnets.1." + unet_resnet_rest(r);
    } else if (c.literal("output_blocks.") && c.index(&n) && c.index(&m)) {
      std::string level = "up_blocks." + std::to_string(n / per_level) + ".";
      std::string layer = std::to_string(n % per_level);
      std::string r = c.rest();
      if (m == 0 && !unet_resnet_rest(r).empty())
        to = level + "resnets." + layer + "." + unet_resnet_rest(r);
      else if ((m == 1 || m == 2) && starts_with(r, "conv."))
        to = level + "upsamplers.0." + r;  // after the attention, if any
      else if (m == 1)
        to = level + "attentions." + layer + "." + r;
    }
    if (to.empty())
      unknown->push_back(t.name);
    else
      out[to] = t;
  }
  return out;
}

std::string diffusers_unet_name_to_ldm(const std::string& name, int layers_per_block,
                                       const std::vector<bool>& up_has_attention) {
  static const std::pair<const char*, const char*> kFixed[] = {
      {"conv_in.", "input_blocks.0.0."},          {"time_embedding.linear_1.", "time_embed.0."},
      {"time_embedding.linear_2.", "time_embed.2."}, {"add_embedding.linear_1.", "label_emb.0.0."},
      {"add_embedding.linear_2.", "label_emb.0.2."}, {"conv_norm_out.", "out.0."},
      {"conv_out.", "out.2."}};
  static const std::pair<const char*, const char*> kResnet[] = {
      {"norm1.", "in_layers.0."},  {"conv1.", "in_layers.2."},  {"time_emb_proj.", "emb_layers.1."},
      {"norm2.", "out_layers.0."}, {"conv2.", "out_layers.3."}, {"conv_shortcut.", "skip_connection."}};
  for (auto& [from, to] : kFixed)
    if (starts_with(name, from)) return to + name.substr(std::string(from).size());
  auto resnet = [&](const std::string& r) {
    for (auto& [from, to] : kResnet)
      if (starts_with(r, from)) return to + r.substr(std::string(from).size());
    return std::string();
  };
  const int per_level = layers_per_block + 1;  // resnets and a downsampler (down) / resnets (up)
  NameCursor c{name};
  int i = 0, j = 0;
  auto str = [](int v) { return std::to_string(v); };
  if (c.literal("down_blocks.") && c.index(&i)) {
    if (c.literal("resnets.") && c.index(&j) && !resnet(c.rest()).empty())
      return "input_blocks." + str(1 + i * per_level + j) + ".0." + resnet(c.rest());
    if (c.literal("attentions.") && c.index(&j)) return "input_blocks." + str(1 + i * per_level + j) + ".1." + c.rest();
    if (c.literal("downsamplers.0.conv.")) return "input_blocks." + str((i + 1) * per_level) + ".0.op." + c.rest();
  } else if (c.literal("mid_block.")) {
    if (c.literal("resnets.") && c.index(&j) && j < 2 && !resnet(c.rest()).empty())
      return "middle_block." + str(2 * j) + "." + resnet(c.rest());
    if (c.literal("attentions.0.")) return "middle_block.1." + c.rest();
  } else if (c.literal("up_blocks.") && c.index(&i)) {
    if (c.literal("resnets.") && c.index(&j) && !resnet(c.rest()).empty())
      return "output_blocks." + str(i * per_level + j) + ".0." + resnet(c.rest());
    if (c.literal("attentions.") && c.index(&j)) return "output_blocks." + str(i * per_level + j) + ".1." + c.rest();
    const bool attention = size_t(i) < up_has_attention.size() && up_has_attention[size_t(i)];
    if (c.literal("upsamplers.0.conv."))
      return "output_blocks." + str(i * per_level + layers_per_block) + "." + (attention ? "2" : "1") + ".conv." +
             c.rest();
  }
  return "";
}

TensorMap ldm_vae_to_diffusers(const TensorMap& ldm, const std::string& where, std::vector<std::string>* unknown,
                               std::vector<std::string>* ignored) {
  // The decoder lists its levels from the output side: up.0 is the last diffusers up block.
  // Files from diffusers' own diffusers-to-original script number them as if there were four
  // levels (up.1..up.3 for three), so levels are ranked rather than taken at face value.
  std::set<int> up_levels;
  for (auto& [name, t] : ldm) {
    NameCursor c{name};
    int k = 0;
    if (c.literal("decoder.up.") && c.index(&k)) up_levels.insert(k);
  }
  if (!up_levels.empty() && *up_levels.rbegin() - *up_levels.begin() + 1 != int(up_levels.size()))
    throw Error(where + ": VAE decoder levels (decoder.up.N) are not numbered consecutively");
  int top = up_levels.empty() ? 0 : *up_levels.rbegin();

  TensorMap out;
  for (auto& [name, t] : ldm) {
    NameCursor c{name};
    int i = 0, j = 0;
    std::string to;
    TensorInfo value = t;
    if (starts_with(name, "loss.")) {  // training-only discriminator / log-variance
      ignored->push_back(t.name);
      continue;
    }
    for (const char* same : {"encoder.conv_in.", "encoder.conv_out.", "decoder.conv_in.", "decoder.conv_out.",
                             "quant_conv.", "post_quant_conv."})
      if (starts_with(name, same)) to = name;
    if (!to.empty()) {
    } else if (c.literal("encoder.norm_out.")) {
      to = "encoder.conv_norm_out." + c.rest();
    } else if (c.literal("decoder.norm_out.")) {
      to = "decoder.conv_norm_out." + c.rest();
    } else if (c.literal("encoder.down.") && c.index(&i)) {
      std::string level = "encoder.down_blocks." + std::to_string(i) + ".";
      if (c.literal("block.") && c.index(&j) && !vae_resnet_rest(c.rest()).empty())
        to = level + "resnets." + std::to_string(j) + "." + vae_resnet_rest(c.rest());
      else if (c.literal("downsample.conv."))
        to = level + "downsamplers.0.conv." + c.rest();
    } else if (c.literal("decoder.up.") && c.index(&i)) {
      std::string level = "decoder.up_blocks." + std::to_string(top - i) + ".";
      if (c.literal("block.") && c.index(&j) && !vae_resnet_rest(c.rest()).empty())
        to = level + "resnets." + std::to_string(j) + "." + vae_resnet_rest(c.rest());
      else if (c.literal("upsample.conv."))
        to = level + "upsamplers.0.conv." + c.rest();
    } else {
      for (const char* side : {"encoder.", "decoder."}) {
        NameCursor m{name};
        if (!m.literal(side) || !m.literal("mid.")) continue;
        std::string mid = std::string(side) + "mid_block.";
        if (m.literal("block_1.") && !vae_resnet_rest(m.rest()).empty())
          to = mid + "resnets.0." + vae_resnet_rest(m.rest());
        else if (m.literal("block_2.") && !vae_resnet_rest(m.rest()).empty())
          to = mid + "resnets.1." + vae_resnet_rest(m.rest());
        else if (m.literal("attn_1.") && !vae_attention_rest(m.rest()).empty()) {
          to = mid + "attentions.0." + vae_attention_rest(m.rest());
          value = as_linear(t);
        }
      }
    }
    if (to.empty())
      unknown->push_back(t.name);
    else
      out[to] = value;
  }
  return out;
}

TensorMap ldm_clip_to_diffusers(const TensorMap& ldm, std::vector<std::string>* unknown,
                                std::vector<std::string>* ignored) {
  TensorMap out;
  for (auto& [name, t] : ldm) {
    std::string to = name;
    if (starts_with(name, "embeddings.") || starts_with(name, "encoder.") || starts_with(name, "final_layer_norm."))
      to = "text_model." + name;  // transformers < 4.11 had no text_model level
    if (to == "text_model.embeddings.position_ids")
      ignored->push_back(t.name);  // a buffer, not a weight
    else if (starts_with(to, "text_model."))
      out[to] = t;
    else
      unknown->push_back(t.name);
  }
  return out;
}

TensorMap open_clip_to_diffusers(const TensorMap& ldm, const std::string& where, bool keep_last_layer,
                                 std::vector<std::string>* unknown, std::vector<std::string>* ignored) {
  int last_layer = -1;
  for (auto& [name, t] : ldm) {
    NameCursor c{name};
    int i = 0;
    if (c.literal("transformer.resblocks.") && c.index(&i)) last_layer = std::max(last_layer, i);
  }
  static const std::pair<const char*, const char*> kLayerRenames[] = {{"ln_1.", "layer_norm1."},
                                                                      {"ln_2.", "layer_norm2."},
                                                                      {"mlp.c_fc.", "mlp.fc1."},
                                                                      {"mlp.c_proj.", "mlp.fc2."},
                                                                      {"attn.out_proj.", "self_attn.out_proj."}};
  TensorMap out;
  for (auto& [name, t] : ldm) {
    NameCursor c{name};
    int i = 0;
    if (name == "positional_embedding") {
      out["text_model.embeddings.position_embedding.weight"] = t;
    } else if (name == "token_embedding.weight") {
      out["text_model.embeddings.token_embedding.weight"] = t;
    } else if (c.literal("ln_final.")) {
      out["text_model.final_layer_norm." + c.rest()] = t;
    } else if (name == "text_projection" || name == "logit_scale" || name == "text_model.embeddings.position_ids") {
      ignored->push_back(t.name);  // the last: a buffer SDXL's released file carries
    } else if (c.literal("transformer.resblocks.") && c.index(&i)) {
      if (i == last_layer && !keep_last_layer) {
        ignored->push_back(t.name);
        continue;
      }
      std::string layer = "text_model.encoder.layers." + std::to_string(i) + ".";
      std::string r = c.rest();
      bool done = false;
      for (auto& [from, to] : kLayerRenames)
        if (!done && starts_with(r, from)) {
          out[layer + to + r.substr(std::string(from).size())] = t;
          done = true;
        }
      if (!done && (r == "attn.in_proj_weight" || r == "attn.in_proj_bias")) {
        // Fused [3W, W] (or [3W]) projection: rows 0..W-1 are q, then k, then v.
        bool weight = r == "attn.in_proj_weight";
        bool fits = !t.shape.empty() && t.shape[0] % 3 == 0 && t.shape[0] > 0 &&
                    (weight ? t.shape.size() == 2 && t.shape[0] / 3 == t.shape[1] : t.shape.size() == 1);
        if (!fits)
          throw Error(where + ": tensor '" + printable(t.name) + "' has shape " + shape_string(t.shape) +
                      ", expected " + (weight ? "[3W, W]" : "[3W]"));
        const char* suffix = weight ? ".weight" : ".bias";
        out[layer + "self_attn.q_proj" + suffix] = third(t, 0);
        out[layer + "self_attn.k_proj" + suffix] = third(t, 1);
        out[layer + "self_attn.v_proj" + suffix] = third(t, 2);
        done = true;
      }
      if (!done) unknown->push_back(t.name);
    } else {
      unknown->push_back(t.name);
    }
  }
  return out;
}

TensorMap rename_legacy_vae_attention(TensorMap tensors) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"query.", "to_q."}, {"key.", "to_k."}, {"value.", "to_v."}, {"proj_attn.", "to_out.0."}};
  TensorMap out;
  for (auto& [name, t] : tensors) {
    std::string to = name;
    for (const char* side : {"encoder.mid_block.attentions.0.", "decoder.mid_block.attentions.0."}) {
      if (!starts_with(name, side)) continue;
      std::string r = name.substr(std::string(side).size());
      for (auto& [from, repl] : kRenames)
        if (starts_with(r, from)) to = side + std::string(repl) + r.substr(std::string(from).size());
    }
    out[to] = to == name ? t : as_linear(t);
  }
  return out;
}

}  // namespace sdvk
