#include "unet/unet.h"

#include "core/error.h"
#include "ops/concat.h"
#include "ops/nonfinite.h"
#include "ops/timestep_embedding.h"
#include "ops/unary.h"

namespace sdvk::unet {

namespace {

std::string str(int64_t i) { return std::to_string(i); }

// An int or a per-block list in the config, as a per-block list.
std::vector<int> per_block(const nlohmann::json& v, size_t n, const std::string& key) {
  std::vector<int> out;
  if (v.is_number_integer()) {
    out.assign(n, v.get<int>());
  } else if (v.is_array() && v.size() == n) {
    for (const auto& e : v) out.push_back(e.get<int>());
  } else {
    throw Error("unet: config " + key + " must be an integer or a list of " + str(int64_t(n)));
  }
  return out;
}

// An activation: a planned temporary, placed by liveness in the sequence's arena.
Tensor act(Sequence& s, const Shape& shape, DType dtype, const std::string& name) {
  return s.temp(shape, dtype, "unet." + name);
}

}  // namespace

UNet2DConditionModel::UNet2DConditionModel(Context& ctx, const Component& component, DType dtype)
    : ctx_(ctx), params_(ctx, component, dtype), dtype_(dtype), config_(component.config) {
  const auto& c = config_;
  for (const auto& v : c.at("block_out_channels")) channels_.push_back(v.get<int64_t>());
  const size_t n = channels_.size();
  groups_ = c.at("norm_num_groups").get<int>();
  eps_ = c.at("norm_eps").get<float>();
  cross_dim_ = c.at("cross_attention_dim").get<int64_t>();
  temb_dim_ = channels_[0] * 4;
  layers_ = c.at("layers_per_block").get<int>();
  transformer_layers_ = per_block(c.at("transformer_layers_per_block"), n, "transformer_layers_per_block");
  // diffusers 0.21: num_attention_heads = num_attention_heads or attention_head_dim (the
  // historical naming quirk: for SD configs attention_head_dim holds the head count).
  const auto& h = c.contains("num_attention_heads") && !c["num_attention_heads"].is_null() ? c["num_attention_heads"]
                                                                                            : c.at("attention_head_dim");
  heads_ = per_block(h, n, "attention_head_dim");
  const nlohmann::json added = c.value("addition_embed_type", nlohmann::json());
  if (c.value("time_embedding_type", std::string("positional")) != "positional" ||
      !c.value("class_embed_type", nlohmann::json()).is_null() || !(added.is_null() || added == "text_time") ||
      c.value("resnet_time_scale_shift", std::string("default")) != "default")
    throw Error("unet: only SD 1.x / 2.x / XL configs are supported (positional time embedding, no class "
                "embeddings, added embeddings text_time only)");
  if (added == "text_time") {  // checked at load (model/unet_config.cpp)
    add_time_dim_ = c.at("addition_time_embed_dim").get<int64_t>();
    add_in_dim_ = c.at("projection_class_embeddings_input_dim").get<int64_t>();
  }
  nonfinite_ = Tensor::empty(ctx, {1}, DType::F32, "unet.nonfinite");
}

// The module tree as diffusers' __init__ builds it, channel bookkeeping included: each up
// block's resnet j eats the skip pushed by the matching down block.
UNet2DConditionModel::Modules UNet2DConditionModel::load() const {
  const auto& c = config_;
  const int64_t in_ch = c.at("in_channels").get<int64_t>(), out_ch = c.at("out_channels").get<int64_t>();
  const int64_t c0 = channels_[0];
  const size_t n = channels_.size();
  const nn::Params& p = params_;
  auto resnet = [&](const std::string& name, int64_t in, int64_t out) {
    return nn::ResnetBlock2D::load(p.at(name), in, out, temb_dim_, groups_, eps_);
  };
  auto transformer = [&](const std::string& name, int64_t C, size_t level) {
    const int heads = heads_[level];
    if (C % heads != 0)
      throw Error("unet: " + name + ": " + str(C) + " channels do not split into " + str(heads) + " heads");
    return nn::Transformer2DModel::load(p.at(name), C, cross_dim_, heads, transformer_layers_[level], groups_);
  };
  Modules m;
  m.time_embedding.linear_1 = nn::Linear::load(p.at("time_embedding.linear_1"), temb_dim_, c0);
  m.time_embedding.linear_2 = nn::Linear::load(p.at("time_embedding.linear_2"), temb_dim_, temb_dim_);
  if (has_text_time()) {
    m.add_embedding.linear_1 = nn::Linear::load(p.at("add_embedding.linear_1"), temb_dim_, add_in_dim_);
    m.add_embedding.linear_2 = nn::Linear::load(p.at("add_embedding.linear_2"), temb_dim_, temb_dim_);
  }
  m.conv_in = nn::Conv2d::load(p.at("conv_in"), c0, in_ch, 3);

  std::vector<int64_t> skip_channels = {c0};  // what each skip pushed in forward() holds
  for (size_t i = 0; i < n; ++i) {
    const std::string type = c.at("down_block_types")[i].get<std::string>();
    const bool cross = type == "CrossAttnDownBlock2D";
    if (!cross && type != "DownBlock2D") throw Error("unet: unsupported down block type " + type);
    const std::string pre = "down_blocks." + str(i);
    Block b;
    for (int j = 0; j < layers_; ++j) {
      b.resnets.push_back(resnet(pre + ".resnets." + str(j), j == 0 ? skip_channels.back() : channels_[i], channels_[i]));
      if (cross) b.attentions.push_back(transformer(pre + ".attentions." + str(j), channels_[i], i));
      skip_channels.push_back(channels_[i]);
    }
    if (i + 1 < n) {
      b.downsamplers.push_back(nn::Downsample2D::load(p.at(pre + ".downsamplers.0"), channels_[i], true));
      skip_channels.push_back(channels_[i]);
    }
    m.down_blocks.push_back(std::move(b));
  }

  if (c.value("mid_block_type", std::string("UNetMidBlock2DCrossAttn")) != "UNetMidBlock2DCrossAttn")
    throw Error("unet: unsupported mid block type");
  const int64_t top = channels_[n - 1];
  m.mid_block.resnets.push_back(resnet("mid_block.resnets.0", top, top));
  m.mid_block.attentions.push_back(transformer("mid_block.attentions.0", top, n - 1));
  m.mid_block.resnets.push_back(resnet("mid_block.resnets.1", top, top));

  int64_t h_channels = top;
  for (size_t i = 0; i < n; ++i) {
    const std::string type = c.at("up_block_types")[i].get<std::string>();
    const bool cross = type == "CrossAttnUpBlock2D";
    if (!cross && type != "UpBlock2D") throw Error("unet: unsupported up block type " + type);
    const std::string pre = "up_blocks." + str(i);
    const int64_t out_c = channels_[n - 1 - i];
    Block b;
    for (int j = 0; j <= layers_; ++j) {
      const int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      b.resnets.push_back(resnet(pre + ".resnets." + str(j), h_channels + skip, out_c));
      if (cross) b.attentions.push_back(transformer(pre + ".attentions." + str(j), out_c, n - 1 - i));
      h_channels = out_c;
    }
    if (i + 1 < n) b.upsamplers.push_back(nn::Upsample2D::load(p.at(pre + ".upsamplers.0"), out_c));
    m.up_blocks.push_back(std::move(b));
  }

  m.conv_norm_out = nn::GroupNorm::load(p.at("conv_norm_out"), c0);
  m.conv_out = nn::Conv2d::load(p.at("conv_out"), out_ch, c0, 3);
  return m;
}

Tensor UNet2DConditionModel::forward(Sequence& s, const Tensor& sample, const Tensor& timestep,
                                     const Tensor& encoder_hidden_states, const TextTime* text_time) {
  const auto& c = config_;
  const int64_t B = sample.dim(0), in_ch = c.at("in_channels").get<int64_t>();
  const int64_t out_ch = c.at("out_channels").get<int64_t>();
  const size_t n = channels_.size();
  if (sample.ndim() != 4 || sample.dim(1) != in_ch || sample.dtype() != dtype_)
    throw Error("unet: sample must be [B," + str(in_ch) + ",H,W] " + dtype_name(dtype_) + ", got " +
                shape_str(sample.shape()) + " " + dtype_name(sample.dtype()));
  if (sample.dim(2) < 1 || sample.dim(3) < 1)  // any size: up blocks upsample to the skips' sizes
    throw Error("unet: empty sample " + shape_str(sample.shape()));
  if (timestep.ndim() != 1 || timestep.dim(0) != B || timestep.dtype() != DType::F32)
    throw Error("unet: timestep must be [" + str(B) + "] F32, got " + shape_str(timestep.shape()));
  const Tensor& ehs = encoder_hidden_states;
  if (ehs.ndim() != 3 || ehs.dim(0) != B || ehs.dim(2) != cross_dim_ || ehs.dtype() != dtype_)
    throw Error("unet: encoder_hidden_states must be [" + str(B) + ",T," + str(cross_dim_) + "] " +
                dtype_name(dtype_) + ", got " + shape_str(ehs.shape()));
  if (has_text_time() != (text_time != nullptr))
    throw Error(has_text_time() ? "unet: this SDXL UNet needs the pooled text embedding and add_time_ids"
                                : "unet: text embeds and time ids given to a UNet without addition_embed_type text_time");
  if (text_time) {
    const Shape embeds = {B, text_embeds_dim()}, ids = {B, 6};
    if (text_time->text_embeds.shape() != embeds || text_time->text_embeds.dtype() != dtype_)
      throw Error("unet: text_embeds must be " + shape_str(embeds) + " " + dtype_name(dtype_) + ", got " +
                  shape_str(text_time->text_embeds.shape()));
    if (text_time->time_ids.shape() != ids || text_time->time_ids.dtype() != DType::F32)
      throw Error("unet: time_ids must be " + shape_str(ids) + " F32, got " + shape_str(text_time->time_ids.shape()));
  }

  if (!modules_) modules_ = std::make_unique<Modules>(load());
  const Modules& m = *modules_;

  // Time embedding: time_proj -> linear_1 -> SiLU -> linear_2; every resnet applies SiLU to the
  // result before its time_emb_proj, so that SiLU is taken once here.
  const int64_t c0 = channels_[0];
  Tensor tp = act(s, {B, c0}, dtype_, "time_proj");                                   // [B,c0]
  ops::TimestepEmbeddingParams tparams;
  tparams.flip_sin_to_cos = c.value("flip_sin_to_cos", true);
  tparams.downscale_freq_shift = c.value("freq_shift", 0.0f);
  ops::timestep_embedding(s, timestep, tp, tparams);
  const ops::Epilogue silu{.has_activation = true, .activation = ops::Activation::SiLU};
  Tensor t1 = act(s, {B, temb_dim_}, dtype_, "time_embedding.linear_1");               // [B,4c0]
  m.time_embedding.linear_1.forward(s, tp, t1, silu);
  Tensor temb = act(s, {B, temb_dim_}, dtype_, "time_embedding.silu");                // [B,4c0] = silu(emb)
  if (!text_time) {
    m.time_embedding.linear_2.forward(s, t1, temb, silu);
  } else {
    // SDXL: emb += add_embedding(cat(text_embeds, add_time_proj(time_ids).reshape(B, -1))).
    Tensor emb = act(s, {B, temb_dim_}, dtype_, "time_embedding.linear_2");            // [B,4c0]
    m.time_embedding.linear_2.forward(s, t1, emb);
    Tensor ids = text_time->time_ids.reshape({B * 6});
    Tensor time_embeds = act(s, {B * 6, add_time_dim_}, dtype_, "add_time_proj");      // [6B,add_time_dim]
    ops::timestep_embedding(s, ids, time_embeds, tparams);
    Tensor add_embeds = act(s, {B, add_in_dim_}, dtype_, "add_embeds");                // [B,P+6*add_time_dim]
    ops::concat(s, {text_time->text_embeds, time_embeds.reshape({B, 6 * add_time_dim_})}, 1, add_embeds);
    Tensor a1 = act(s, {B, temb_dim_}, dtype_, "add_embedding.linear_1");              // [B,4c0]
    m.add_embedding.linear_1.forward(s, add_embeds, a1, silu);
    m.add_embedding.linear_2.forward(s, a1, temb, {.residual = &emb});                  // [B,4c0] = emb + aug_emb
    ops::unary(s, ops::Activation::SiLU, temb, temb);
  }

  // conv_in
  Tensor h = act(s, {B, c0, sample.dim(2), sample.dim(3)}, dtype_, "conv_in");        // [B,c0,H,W]
  m.conv_in.forward(s, sample, h, ops::conv_params(1, 1));
  std::vector<Tensor> skips = {h};

  // Down blocks.
  for (size_t i = 0; i < n; ++i) {
    const Block& b = m.down_blocks[i];
    const std::string pre = "unet.down_blocks." + str(i);
    for (size_t j = 0; j < b.resnets.size(); ++j) {
      h = b.resnets[j].forward(s, h, &temb, pre + ".resnets." + str(j));              // [B,Ci,h,w]
      if (!b.attentions.empty()) h = b.attentions[j].forward(s, h, ehs, pre + ".attentions." + str(j));
      skips.push_back(h);
    }
    for (const nn::Downsample2D& d : b.downsamplers) {
      h = d.forward(s, h, pre + ".downsample");                                       // [B,Ci,ceil(h/2),ceil(w/2)]
      skips.push_back(h);
    }
  }

  // Mid block.
  h = m.mid_block.resnets[0].forward(s, h, &temb, "unet.mid_block.resnets.0");        // [B,Cn,h,w]
  h = m.mid_block.attentions[0].forward(s, h, ehs, "unet.mid_block.attentions.0");
  h = m.mid_block.resnets[1].forward(s, h, &temb, "unet.mid_block.resnets.1");

  // Up blocks: reversed channels and head counts; each resnet eats the next skip.
  for (size_t i = 0; i < n; ++i) {
    const Block& b = m.up_blocks[i];
    const std::string pre = "unet.up_blocks." + str(i);
    for (size_t j = 0; j < b.resnets.size(); ++j) {
      Tensor skip = skips.back();
      skips.pop_back();
      Tensor cat = s.temp({B, h.dim(1) + skip.dim(1), h.dim(2), h.dim(3)}, dtype_, pre + ".cat" + str(j));
      ops::concat(s, {h, skip}, 1, cat);                                              // [B,C+Cskip,h,w]
      h = b.resnets[j].forward(s, cat, &temb, pre + ".resnets." + str(j));            // [B,Cout,h,w]
      if (!b.attentions.empty()) h = b.attentions[j].forward(s, h, ehs, pre + ".attentions." + str(j));
    }
    // To the size of the skip met next: 2h x 2w unless a downsample rounded an odd size up
    // (diffusers' upsample_size, for latents not divisible by the UNet's downsampling).
    for (const nn::Upsample2D& u : b.upsamplers)
      h = u.forward(s, h, skips.back().dim(2), skips.back().dim(3), pre + ".upsample");  // [B,Cout,~2h,~2w]
  }

  // conv_norm_out + SiLU, conv_out.
  Tensor no = act(s, h.shape(), dtype_, "conv_norm_out");                             // [B,c0,H,W]
  m.conv_norm_out.forward(s, h, no, groups_, eps_, true);
  Tensor y = act(s, {B, out_ch, h.dim(2), h.dim(3)}, dtype_, "conv_out");             // [B,out,H,W]
  m.conv_out.forward(s, no, y, ops::conv_params(1, 1));

  ops::nonfinite(s, y, nonfinite_);
  s.keep(y);  // the output is read after the run
  s.output(nonfinite_);  // check_output(s) reads it from the run's own submission
  return y;
}

void UNet2DConditionModel::check_output() const { report_nonfinite(uint64_t(ops::read_count(ctx_, nonfinite_))); }

void UNet2DConditionModel::check_output(const Sequence& s) const {
  report_nonfinite(uint64_t(s.read_output(nonfinite_).at(0)));
}

void UNet2DConditionModel::report_nonfinite(uint64_t bad) const {
  if (bad) throw Error("unet: " + std::to_string(bad) + " non-finite values in the output (conv_out)");
}

}  // namespace sdvk::unet
