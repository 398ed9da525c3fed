#include "model/vae_config.h"

#include "core/error.h"
#include "core/json.h"

namespace sdvk {

namespace {

void add_resnet(TensorSpecs& s, const std::string& p, int64_t in, int64_t out) {
  add_weight_bias(s, p + "norm1.", {in}, in);
  add_weight_bias(s, p + "conv1.", {out, in, 3, 3}, out);
  add_weight_bias(s, p + "norm2.", {out}, out);
  add_weight_bias(s, p + "conv2.", {out, out, 3, 3}, out);
  if (in != out) add_weight_bias(s, p + "conv_shortcut.", {out, in, 1, 1}, out);
}

// UNetMidBlock2D: resnet, single-head self-attention over pixels, resnet.
void add_mid_block(TensorSpecs& s, const std::string& p, int64_t c) {
  add_resnet(s, p + "resnets.0.", c, c);
  add_weight_bias(s, p + "attentions.0.group_norm.", {c}, c);
  for (const char* n : {"to_q.", "to_k.", "to_v.", "to_out.0."}) add_weight_bias(s, p + "attentions.0." + n, {c, c}, c);
  add_resnet(s, p + "resnets.1.", c, c);
}

}  // namespace

nlohmann::json vae_default_config() {
  return {
      {"_class_name", "AutoencoderKL"},
      {"in_channels", 3},
      {"out_channels", 3},
      {"down_block_types", {"DownEncoderBlock2D"}},
      {"up_block_types", {"UpDecoderBlock2D"}},
      {"block_out_channels", {64}},
      {"layers_per_block", 1},
      {"act_fn", "silu"},
      {"latent_channels", 4},
      {"norm_num_groups", 32},
      {"sample_size", 32},
      {"scaling_factor", 0.18215},
      {"force_upcast", true},
  };
}

TensorSpecs vae_tensor_specs(const nlohmann::json& config, const std::string& where) {
  ConfigView c(config, where);
  auto ch = c.int_list("block_out_channels", 1, 8, 1, 1 << 16);
  size_t levels = ch.size();
  int64_t lpb = c.integer("layers_per_block", 1, 16);
  for (auto& t : c.string_list("down_block_types", levels))
    if (t != "DownEncoderBlock2D") c.fail("down_block_types", "has '" + printable(t) + "': not supported");
  for (auto& t : c.string_list("up_block_types", levels))
    if (t != "UpDecoderBlock2D") c.fail("up_block_types", "has '" + printable(t) + "': not supported");
  int64_t in = c.integer("in_channels", 1, 64), out = c.integer("out_channels", 1, 64);
  int64_t latent = c.integer("latent_channels", 1, 1024);
  int64_t groups = c.integer("norm_num_groups", 1, 1 << 16);
  for (int64_t x : ch)
    if (x % groups)
      c.fail("norm_num_groups", std::to_string(groups) + " does not divide " + std::to_string(x) + " channels");
  c.number("scaling_factor");
  if (c.string("act_fn") != "silu") c.fail("act_fn", "'" + printable(c.string("act_fn")) + "' is not supported (silu)");
  if (c.has("sample_size")) c.integer("sample_size", 1, 16384);

  TensorSpecs s;
  add_weight_bias(s, "encoder.conv_in.", {ch[0], in, 3, 3}, ch[0]);
  int64_t prev = ch[0];
  for (size_t i = 0; i < levels; i++) {
    std::string b = "encoder.down_blocks." + std::to_string(i) + ".";
    for (int64_t j = 0; j < lpb; j++)
      add_resnet(s, b + "resnets." + std::to_string(j) + ".", j == 0 ? prev : ch[i], ch[i]);
    if (i + 1 < levels) add_weight_bias(s, b + "downsamplers.0.conv.", {ch[i], ch[i], 3, 3}, ch[i]);
    prev = ch[i];
  }
  int64_t last = ch.back();
  add_mid_block(s, "encoder.mid_block.", last);
  add_weight_bias(s, "encoder.conv_norm_out.", {last}, last);
  add_weight_bias(s, "encoder.conv_out.", {2 * latent, last, 3, 3}, 2 * latent);  // mean and log-variance
  add_weight_bias(s, "quant_conv.", {2 * latent, 2 * latent, 1, 1}, 2 * latent);
  add_weight_bias(s, "post_quant_conv.", {latent, latent, 1, 1}, latent);

  add_weight_bias(s, "decoder.conv_in.", {last, latent, 3, 3}, last);
  add_mid_block(s, "decoder.mid_block.", last);
  int64_t out_ch = last;
  for (size_t i = 0; i < levels; i++) {
    int64_t prev_out = out_ch;
    out_ch = ch[levels - 1 - i];
    std::string b = "decoder.up_blocks." + std::to_string(i) + ".";
    for (int64_t j = 0; j <= lpb; j++)
      add_resnet(s, b + "resnets." + std::to_string(j) + ".", j == 0 ? prev_out : out_ch, out_ch);
    if (i + 1 < levels) add_weight_bias(s, b + "upsamplers.0.conv.", {out_ch, out_ch, 3, 3}, out_ch);
  }
  add_weight_bias(s, "decoder.conv_norm_out.", {ch[0]}, ch[0]);
  add_weight_bias(s, "decoder.conv_out.", {out, ch[0], 3, 3}, out);
  return s;
}

nlohmann::json infer_vae_config(const TensorMap& t, const std::string& where, std::vector<std::string>* assumptions) {
  std::vector<int64_t> ch;
  for (size_t i = 0; i < 8 && t.count("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight"); i++)
    ch.push_back(
        read_layout_tensor(t, "encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight", where, 4, "VAE")
            .shape[0]);
  if (ch.empty())
    throw Error(where + ": cannot read the VAE layout: tensor 'encoder.down_blocks.0.resnets.0.conv1.weight' missing");
  int64_t lpb = 0;
  while (lpb < 16 && t.count("encoder.down_blocks.0.resnets." + std::to_string(lpb) + ".conv1.weight")) lpb++;

  nlohmann::json cfg = vae_default_config();
  cfg["in_channels"] = read_layout_tensor(t, "encoder.conv_in.weight", where, 4, "VAE").shape[1];
  cfg["out_channels"] = read_layout_tensor(t, "decoder.conv_out.weight", where, 4, "VAE").shape[0];
  cfg["latent_channels"] = read_layout_tensor(t, "post_quant_conv.weight", where, 4, "VAE").shape[0];
  cfg["block_out_channels"] = ch;
  cfg["layers_per_block"] = lpb;
  cfg["sample_size"] = 512;  // diffusers' single-file default image size
  cfg["down_block_types"] = std::vector<std::string>(ch.size(), "DownEncoderBlock2D");
  cfg["up_block_types"] = std::vector<std::string>(ch.size(), "UpDecoderBlock2D");
  assumptions->push_back("vae norm_num_groups 32 (not stored in the file)");
  assumptions->push_back("vae scaling_factor 0.18215 (not stored in the file; the SD 1.x / 2.x value)");
  return cfg;
}

}  // namespace sdvk
