#include "model/unet_config.h"

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "core/json.h"

namespace sdvk {

namespace {

constexpr int64_t kMaxChannels = 1 << 16;
constexpr int64_t kMaxSampleSize = 2048;  // latent pixels: 16384-pixel images, the engine's limit

void add_resnet(TensorSpecs& s, const std::string& p, int64_t in, int64_t out, int64_t temb) {
  add_weight_bias(s, p + "norm1.", {in}, in);
  add_weight_bias(s, p + "conv1.", {out, in, 3, 3}, out);
  add_weight_bias(s, p + "time_emb_proj.", {out, temb}, out);
  add_weight_bias(s, p + "norm2.", {out}, out);
  add_weight_bias(s, p + "conv2.", {out, out, 3, 3}, out);
  if (in != out) add_weight_bias(s, p + "conv_shortcut.", {out, in, 1, 1}, out);
}

// Transformer2DModel with `depth` BasicTransformerBlocks; inner width = channels in SD.
void add_transformer(TensorSpecs& s, const std::string& p, int64_t c, int64_t depth, int64_t context, bool linear) {
  std::vector<int64_t> proj = linear ? std::vector<int64_t>{c, c} : std::vector<int64_t>{c, c, 1, 1};
  add_weight_bias(s, p + "norm.", {c}, c);
  add_weight_bias(s, p + "proj_in.", proj, c);
  add_weight_bias(s, p + "proj_out.", proj, c);
  for (int64_t d = 0; d < depth; d++) {
    std::string b = p + "transformer_blocks." + std::to_string(d) + ".";
    for (const char* n : {"norm1.", "norm2.", "norm3."}) add_weight_bias(s, b + n, {c}, c);
    s[b + "attn1.to_q.weight"] = {c, c};
    s[b + "attn1.to_k.weight"] = {c, c};
    s[b + "attn1.to_v.weight"] = {c, c};
    add_weight_bias(s, b + "attn1.to_out.0.", {c, c}, c);
    s[b + "attn2.to_q.weight"] = {c, c};
    s[b + "attn2.to_k.weight"] = {c, context};
    s[b + "attn2.to_v.weight"] = {c, context};
    add_weight_bias(s, b + "attn2.to_out.0.", {c, c}, c);
    add_weight_bias(s, b + "ff.net.0.proj.", {8 * c, c}, 8 * c);  // GEGLU: value and gate halves
    add_weight_bias(s, b + "ff.net.2.", {c, 4 * c}, c);
  }
}

}  // namespace

nlohmann::json unet_default_config() {
  return {
      {"_class_name", "UNet2DConditionModel"},
      {"sample_size", nullptr},
      {"in_channels", 4},
      {"out_channels", 4},
      {"center_input_sample", false},
      {"flip_sin_to_cos", true},
      {"freq_shift", 0},
      {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
      {"mid_block_type", "UNetMidBlock2DCrossAttn"},
      {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
      {"only_cross_attention", false},
      {"block_out_channels", {320, 640, 1280, 1280}},
      {"layers_per_block", 2},
      {"downsample_padding", 1},
      {"mid_block_scale_factor", 1},
      {"act_fn", "silu"},
      {"norm_num_groups", 32},
      {"norm_eps", 1e-5},
      {"cross_attention_dim", 1280},
      {"transformer_layers_per_block", 1},
      {"encoder_hid_dim", nullptr},
      {"attention_head_dim", 8},
      {"num_attention_heads", nullptr},
      {"dual_cross_attention", false},
      {"use_linear_projection", false},
      {"class_embed_type", nullptr},
      {"addition_embed_type", nullptr},
      {"num_class_embeds", nullptr},
      {"upcast_attention", false},
      {"resnet_time_scale_shift", "default"},
      {"time_embedding_type", "positional"},
      {"time_embedding_dim", nullptr},
      {"time_cond_proj_dim", nullptr},
      {"conv_in_kernel", 3},
      {"conv_out_kernel", 3},
      {"attention_type", "default"},
  };
}

TensorSpecs unet_tensor_specs(const nlohmann::json& config, const std::string& where) {
  ConfigView c(config, where);
  auto ch = c.int_list("block_out_channels", 1, 8, 1, kMaxChannels);
  size_t levels = ch.size();
  int64_t lpb = c.integer("layers_per_block", 1, 16);
  auto down = c.string_list("down_block_types", levels);
  auto up = c.string_list("up_block_types", levels);
  for (auto& t : down)
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      c.fail("down_block_types", "has '" + printable(t) + "': not supported");
  for (auto& t : up)
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
      c.fail("up_block_types", "has '" + printable(t) + "': not supported");
  if (c.string("mid_block_type") != "UNetMidBlock2DCrossAttn")
    c.fail("mid_block_type", "'" + printable(c.string("mid_block_type")) + "' is not supported");
  int64_t in = c.integer("in_channels", 1, 64), out = c.integer("out_channels", 1, 64);
  int64_t context = c.integer("cross_attention_dim", 1, kMaxChannels);
  auto depth = c.per_block("transformer_layers_per_block", levels, 1, 64);
  bool linear = c.boolean("use_linear_projection");
  int64_t k_in = c.integer("conv_in_kernel", 1, 7), k_out = c.integer("conv_out_kernel", 1, 7);
  int64_t groups = c.integer("norm_num_groups", 1, kMaxChannels);
  auto heads =
      c.per_block(c.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim", levels, 1, 4096);
  int64_t temb = c.has("time_embedding_dim") ? c.integer("time_embedding_dim", 1, 4 * kMaxChannels) : 4 * ch[0];
  for (const char* k : {"class_embed_type", "encoder_hid_dim", "num_class_embeds", "time_cond_proj_dim",
                        "time_embedding_act_fn", "timestep_post_act", "cross_attention_norm", "encoder_hid_dim_type"})
    c.expect_null(k);
  // SDXL's micro-conditioning: add_embedding takes the pooled text embedding and the sinusoids
  // of the six add_time_ids.
  const bool text_time = c.has("addition_embed_type");
  int64_t add_in = 0;
  if (text_time) {
    if (c.string("addition_embed_type") != "text_time")
      c.fail("addition_embed_type", "'" + printable(c.string("addition_embed_type")) + "' is not supported (text_time)");
    const int64_t time_dim = c.integer("addition_time_embed_dim", 2, kMaxChannels);
    if (time_dim % 2) c.fail("addition_time_embed_dim", "must be even");
    add_in = c.integer("projection_class_embeddings_input_dim", 6 * time_dim + 1, 4 * kMaxChannels);
  } else {
    c.expect_null("addition_time_embed_dim");
    c.expect_null("projection_class_embeddings_input_dim");
  }
  if (c.has("only_cross_attention") && config["only_cross_attention"] != false)
    c.fail("only_cross_attention", "must be false");
  if (c.has("dual_cross_attention") && c.boolean("dual_cross_attention"))
    c.fail("dual_cross_attention", "must be false");
  if (c.string("time_embedding_type") != "positional") c.fail("time_embedding_type", "must be \"positional\"");
  if (c.string("resnet_time_scale_shift") != "default") c.fail("resnet_time_scale_shift", "must be \"default\"");
  if (c.has("attention_type") && c.string("attention_type") != "default")
    c.fail("attention_type", "must be \"default\"");
  // What the network reads beyond the tensor layout, refused here (at load, naming the key)
  // rather than failing later inside an op or an allocation.
  if (c.string("act_fn") != "silu") c.fail("act_fn", "'" + printable(c.string("act_fn")) + "' is not supported (silu)");
  c.number("norm_eps", 1e-12, 1.0);
  if (c.has("sample_size")) c.integer("sample_size", 1, kMaxSampleSize);
  c.boolean("flip_sin_to_cos");
  c.number("freq_shift", 0, double(ch[0] / 2 - 1));  // the sinusoid has ch[0] / 2 frequencies
  if (c.has("center_input_sample") && c.boolean("center_input_sample")) c.fail("center_input_sample", "must be false");
  if (c.has("upcast_attention")) c.boolean("upcast_attention");  // attention runs in float32 anyway
  for (size_t i = 0; i < levels; i++) {
    if (ch[i] % groups)
      c.fail("norm_num_groups", std::to_string(groups) + " does not divide " + std::to_string(ch[i]) + " channels");
    if (ch[i] % heads[i])
      c.fail("attention_head_dim",
             std::to_string(heads[i]) + " heads do not divide " + std::to_string(ch[i]) + " channels");
  }

  TensorSpecs s;
  add_weight_bias(s, "conv_in.", {ch[0], in, k_in, k_in}, ch[0]);
  add_weight_bias(s, "time_embedding.linear_1.", {temb, ch[0]}, temb);
  add_weight_bias(s, "time_embedding.linear_2.", {temb, temb}, temb);
  if (text_time) {
    add_weight_bias(s, "add_embedding.linear_1.", {temb, add_in}, temb);
    add_weight_bias(s, "add_embedding.linear_2.", {temb, temb}, temb);
  }
  int64_t prev = ch[0];
  for (size_t i = 0; i < levels; i++) {
    std::string b = "down_blocks." + std::to_string(i) + ".";
    for (int64_t j = 0; j < lpb; j++) {
      add_resnet(s, b + "resnets." + std::to_string(j) + ".", j == 0 ? prev : ch[i], ch[i], temb);
      if (down[i] == "CrossAttnDownBlock2D")
        add_transformer(s, b + "attentions." + std::to_string(j) + ".", ch[i], depth[i], context, linear);
    }
    if (i + 1 < levels) add_weight_bias(s, b + "downsamplers.0.conv.", {ch[i], ch[i], 3, 3}, ch[i]);
    prev = ch[i];
  }
  int64_t last = ch.back();
  add_resnet(s, "mid_block.resnets.0.", last, last, temb);
  add_transformer(s, "mid_block.attentions.0.", last, depth.back(), context, linear);
  add_resnet(s, "mid_block.resnets.1.", last, last, temb);
  // Up path: level i mirrors down level L-1-i; each resnet also takes the matching skip.
  int64_t out_ch = ch[levels - 1];
  for (size_t i = 0; i < levels; i++) {
    int64_t prev_out = out_ch;
    out_ch = ch[levels - 1 - i];
    int64_t skip_in = ch[levels - 1 - std::min(i + 1, levels - 1)];
    std::string b = "up_blocks." + std::to_string(i) + ".";
    for (int64_t j = 0; j <= lpb; j++) {
      int64_t skip = j == lpb ? skip_in : out_ch;
      int64_t res_in = j == 0 ? prev_out : out_ch;
      add_resnet(s, b + "resnets." + std::to_string(j) + ".", res_in + skip, out_ch, temb);
      if (up[i] == "CrossAttnUpBlock2D")
        add_transformer(s, b + "attentions." + std::to_string(j) + ".", out_ch, depth[levels - 1 - i], context, linear);
    }
    if (i + 1 < levels) add_weight_bias(s, b + "upsamplers.0.conv.", {out_ch, out_ch, 3, 3}, out_ch);
  }
  add_weight_bias(s, "conv_norm_out.", {ch[0]}, ch[0]);
  add_weight_bias(s, "conv_out.", {out, ch[0], k_out, k_out}, out);
  return s;
}

nlohmann::json infer_unet_config(const TensorMap& t, const std::string& where, std::vector<std::string>* assumptions) {
  auto has = [&](const std::string& n) { return t.count(n) > 0; };
  const TensorInfo& conv_in = read_layout_tensor(t, "conv_in.weight", where, 4, "UNet");
  const TensorInfo& conv_out = read_layout_tensor(t, "conv_out.weight", where, 4, "UNet");
  const TensorInfo& temb = read_layout_tensor(t, "time_embedding.linear_1.weight", where, 2, "UNet");

  std::vector<int64_t> ch;
  std::vector<std::string> down, up;
  std::vector<int64_t> depth;
  for (size_t i = 0; i < 8 && has("down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight"); i++) {
    std::string b = "down_blocks." + std::to_string(i) + ".";
    ch.push_back(read_layout_tensor(t, b + "resnets.0.conv1.weight", where, 4, "UNet").shape[0]);
    bool cross = has(b + "attentions.0.proj_in.weight");
    down.push_back(cross ? "CrossAttnDownBlock2D" : "DownBlock2D");
    int64_t d = 0;
    while (d < 64 && has(b + "attentions.0.transformer_blocks." + std::to_string(d) + ".norm1.weight")) d++;
    depth.push_back(cross ? d : 1);
  }
  if (ch.empty())
    throw Error(where + ": cannot read the UNet layout: tensor 'down_blocks.0.resnets.0.conv1.weight' missing");
  for (size_t i = 0; i < ch.size(); i++)
    up.push_back(has("up_blocks." + std::to_string(i) + ".attentions.0.proj_in.weight") ? "CrossAttnUpBlock2D"
                                                                                        : "UpBlock2D");
  int64_t lpb = 0;
  while (lpb < 16 && has("down_blocks.0.resnets." + std::to_string(lpb) + ".conv1.weight")) lpb++;

  // Cross-attention width and projection kind, from the first transformer found (the mid block's).
  int64_t context = 768;
  bool linear = false;
  std::string attn = "mid_block.attentions.0.";
  if (has(attn + "proj_in.weight")) {
    linear = t.at(attn + "proj_in.weight").shape.size() == 2;
    context = read_layout_tensor(t, attn + "transformer_blocks.0.attn2.to_k.weight", where, 2, "UNet").shape[1];
  }
  int64_t mid_depth = 0;
  while (mid_depth < 64 && has(attn + "transformer_blocks." + std::to_string(mid_depth) + ".norm1.weight")) mid_depth++;
  if (down.back() == "DownBlock2D")
    depth.back() = std::max<int64_t>(mid_depth, 1);  // the mid block uses the last value
  bool uniform = std::all_of(depth.begin(), depth.end(), [&](int64_t d) { return d == depth[0]; });

  nlohmann::json heads;
  if (linear) {  // SD 2.x: 64-wide heads per level (diffusers: model_channels / num_head_channels * mult)
    for (int64_t c : ch) heads.push_back(std::max<int64_t>(1, c / 64));
    assumptions->push_back("unet attention_head_dim " + heads.dump() +
                           " (heads are not stored in the file; SD 2.x and SDXL use 64 channels per head)");
    assumptions->push_back("unet upcast_attention false (not stored in the file; diffusers' single-file default)");
  } else {
    heads = 8;
    assumptions->push_back("unet attention_head_dim 8 (heads are not stored in the file; SD 1.x uses 8 heads)");
  }
  assumptions->push_back("unet norm_num_groups 32 (not stored in the file)");

  nlohmann::json cfg = unet_default_config();
  cfg["in_channels"] = conv_in.shape[1];
  cfg["out_channels"] = conv_out.shape[0];
  cfg["conv_in_kernel"] = conv_in.shape[2];
  cfg["conv_out_kernel"] = conv_out.shape[2];
  cfg["block_out_channels"] = ch;
  cfg["layers_per_block"] = lpb;
  cfg["down_block_types"] = down;
  cfg["up_block_types"] = up;
  cfg["cross_attention_dim"] = context;
  cfg["use_linear_projection"] = linear;
  cfg["transformer_layers_per_block"] = uniform ? nlohmann::json(depth[0]) : nlohmann::json(depth);
  cfg["attention_head_dim"] = heads;
  if (temb.shape[0] != 4 * ch[0]) cfg["time_embedding_dim"] = temb.shape[0];
  if (has("add_embedding.linear_1.weight")) {  // SDXL
    cfg["addition_embed_type"] = "text_time";
    cfg["projection_class_embeddings_input_dim"] =
        read_layout_tensor(t, "add_embedding.linear_1.weight", where, 2, "UNet").shape[1];
    cfg["addition_time_embed_dim"] = 256;
    assumptions->push_back("unet addition_time_embed_dim 256 (not stored in the file; SDXL's)");
  }
  return cfg;
}

}  // namespace sdvk
