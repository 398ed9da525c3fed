#include "unet/unet.h"

#include "core/error.h"
#include "ops/attention.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/geglu.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/permute.h"
#include "ops/timestep_embedding.h"
#include "ops/unary.h"
#include "ops/upsample.h"

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
  linear_proj_ = c.value("use_linear_projection", false);
  cross_dim_ = c.at("cross_attention_dim").get<int64_t>();
  temb_dim_ = channels_[0] * 4;
  layers_ = c.at("layers_per_block").get<int>();
  transformer_layers_ = per_block(c.at("transformer_layers_per_block"), n, "transformer_layers_per_block")[0];  // one for all levels (checked at load)
  // diffusers 0.21: num_attention_heads = num_attention_heads or attention_head_dim (the
  // historical naming quirk: for SD configs attention_head_dim holds the head count).
  const auto& h = c.contains("num_attention_heads") && !c["num_attention_heads"].is_null() ? c["num_attention_heads"]
                                                                                            : c.at("attention_head_dim");
  heads_ = per_block(h, n, "attention_head_dim");
  if (c.value("time_embedding_type", std::string("positional")) != "positional" ||
      !c.value("class_embed_type", nlohmann::json()).is_null() ||
      !c.value("addition_embed_type", nlohmann::json()).is_null() ||
      c.value("resnet_time_scale_shift", std::string("default")) != "default")
    throw Error("unet: only SD 1.x / 2.x configs are supported (positional time embedding, no class/added embeddings)");
  nonfinite_ = Tensor::empty(ctx, {1}, DType::F32, "unet.nonfinite");
}

Tensor UNet2DConditionModel::w(const std::string& name, const Shape& shape) {
  auto it = weights_.find(name);
  if (it != weights_.end()) {
    if (it->second.shape() != shape) throw Error("unet: " + name + " asked with two shapes");
    return it->second;
  }
  Tensor t = params_.get(name, shape);
  weights_.emplace(name, t);
  return t;
}

// ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1).
Tensor UNet2DConditionModel::resnet(Sequence& s, const std::string& pre, const Tensor& x, const Tensor& temb_silu,
                                    int64_t out_c) {
  const int64_t B = x.dim(0), in_c = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::string p = pre + ".";
  Tensor h = act(s, x.shape(), dtype_, p + "norm1");                                  // [B,Cin,H,W]
  ops::group_norm(s, x, w(p + "norm1.weight", {in_c}), w(p + "norm1.bias", {in_c}), h, groups_, eps_, true);
  Tensor h1 = act(s, {B, out_c, H, W}, dtype_, p + "conv1");                          // [B,Cout,H,W]
  Tensor b1 = w(p + "conv1.bias", {out_c});
  ops::conv2d(s, h, w(p + "conv1.weight", {out_c, in_c, 3, 3}), &b1, h1, ops::conv_params(1, 1));
  Tensor t = act(s, {B, out_c}, dtype_, p + "time_emb_proj");                          // [B,Cout]
  Tensor tb = w(p + "time_emb_proj.bias", {out_c});
  ops::linear(s, temb_silu, w(p + "time_emb_proj.weight", {out_c, temb_dim_}), &tb, t);
  ops::binary(s, ops::BinaryOp::Add, h1, t.reshape({B, out_c, 1, 1}), h1);            // [B,Cout,H,W]
  Tensor h2 = act(s, {B, out_c, H, W}, dtype_, p + "norm2");                          // [B,Cout,H,W]
  ops::group_norm(s, h1, w(p + "norm2.weight", {out_c}), w(p + "norm2.bias", {out_c}), h2, groups_, eps_, true);
  Tensor shortcut = x;
  if (in_c != out_c) {
    shortcut = act(s, {B, out_c, H, W}, dtype_, p + "conv_shortcut");                 // [B,Cout,H,W]
    Tensor sb = w(p + "conv_shortcut.bias", {out_c});
    ops::conv2d(s, x, w(p + "conv_shortcut.weight", {out_c, in_c, 1, 1}), &sb, shortcut, ops::conv_params(1, 0));
  }
  Tensor y = act(s, {B, out_c, H, W}, dtype_, p + "out");                             // [B,Cout,H,W]
  Tensor b2 = w(p + "conv2.bias", {out_c});
  ops::conv2d(s, h2, w(p + "conv2.weight", {out_c, out_c, 3, 3}), &b2, y, ops::conv_params(1, 1), &shortcut);
  return y;
}

// Transformer2DModel with transformer_layers_ BasicTransformerBlocks.
Tensor UNet2DConditionModel::transformer(Sequence& s, const std::string& pre, const Tensor& x, const Tensor& ehs,
                                         int heads) {
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), T = H * W;
  const std::string p = pre + ".";
  if (C % heads != 0) throw Error("unet: " + pre + ": " + str(C) + " channels do not split into " + str(heads) + " heads");
  Tensor n = act(s, x.shape(), dtype_, p + "norm");                                   // [B,C,H,W]
  ops::group_norm(s, x, w(p + "norm.weight", {C}), w(p + "norm.bias", {C}), n, groups_, 1e-6f, false);
  Tensor h = act(s, {B, T, C}, dtype_, p + "proj_in");                                // [B,HW,C]
  Tensor bin = w(p + "proj_in.bias", {C});
  if (linear_proj_) {
    Tensor nt = act(s, {B, H, W, C}, dtype_, p + "norm_nhwc");                        // [B,H,W,C]
    ops::permute(s, n, {0, 2, 3, 1}, nt);
    ops::linear(s, nt.reshape({B, T, C}), w(p + "proj_in.weight", {C, C}), &bin, h);  // [B,HW,C]
  } else {
    Tensor pi = act(s, x.shape(), dtype_, p + "proj_in_nchw");                         // [B,C,H,W]
    ops::conv2d(s, n, w(p + "proj_in.weight", {C, C, 1, 1}), &bin, pi, ops::conv_params(1, 0));
    ops::permute(s, pi, {0, 2, 3, 1}, h.reshape({B, H, W, C}));                       // [B,HW,C]
  }
  for (int l = 0; l < transformer_layers_; ++l) {
    const std::string b = p + "transformer_blocks." + str(l) + ".";
    auto norm = [&](const std::string& name, const Tensor& in) {
      Tensor y = act(s, {B, T, C}, dtype_, b + name);                                  // [B,HW,C]
      ops::layer_norm(s, in, w(b + name + ".weight", {C}), w(b + name + ".bias", {C}), y, 1e-5f);
      return y;
    };
    auto attn = [&](const std::string& name, const Tensor& q_in, const Tensor& kv_in, const Tensor& residual) {
      const int64_t Tk = kv_in.dim(1), Ck = kv_in.dim(2);
      const std::string a = b + name + ".";
      Tensor q = act(s, {B, T, C}, dtype_, a + "q");                                   // [B,HW,C]
      Tensor k = act(s, {B, Tk, C}, dtype_, a + "k");                                  // [B,Tk,C]
      Tensor v = act(s, {B, Tk, C}, dtype_, a + "v");                                  // [B,Tk,C]
      ops::linear(s, q_in, w(a + "to_q.weight", {C, C}), nullptr, q);
      ops::linear(s, kv_in, w(a + "to_k.weight", {C, Ck}), nullptr, k);
      ops::linear(s, kv_in, w(a + "to_v.weight", {C, Ck}), nullptr, v);
      Tensor o = act(s, {B, T, C}, dtype_, a + "attn");                                // [B,HW,C]
      // Scores and softmax run in float32 whatever the storage: upcast_attention holds.
      ops::attention(s, q, k, v, o, heads);
      Tensor y = act(s, {B, T, C}, dtype_, a + "out");                                 // [B,HW,C]
      Tensor ob = w(a + "to_out.0.bias", {C});
      ops::Epilogue ep;
      ep.residual = &residual;
      ops::linear(s, o, w(a + "to_out.0.weight", {C, C}), &ob, y, ep);                 // + residual
      return y;
    };
    Tensor n1 = norm("norm1", h);
    Tensor h1 = attn("attn1", n1, n1, h);                                              // [B,HW,C]
    Tensor n2 = norm("norm2", h1);
    Tensor h2 = attn("attn2", n2, ehs, h1);                                            // [B,HW,C]
    Tensor n3 = norm("norm3", h2);
    const int64_t inner = 4 * C;
    Tensor g = act(s, {B, T, 2 * inner}, dtype_, b + "ff.net.0.proj");                 // [B,HW,8C]
    Tensor gb = w(b + "ff.net.0.proj.bias", {2 * inner});
    ops::linear(s, n3, w(b + "ff.net.0.proj.weight", {2 * inner, C}), &gb, g);
    Tensor gg = act(s, {B, T, inner}, dtype_, b + "ff.geglu");                         // [B,HW,4C]
    ops::geglu(s, g, gg);
    Tensor h3 = act(s, {B, T, C}, dtype_, b + "ff.out");                               // [B,HW,C]
    Tensor fb = w(b + "ff.net.2.bias", {C});
    ops::Epilogue ep;
    ep.residual = &h2;
    ops::linear(s, gg, w(b + "ff.net.2.weight", {C, inner}), &fb, h3, ep);
    h = h3;
  }
  Tensor y = act(s, x.shape(), dtype_, p + "out");                                    // [B,C,H,W]
  Tensor bout = w(p + "proj_out.bias", {C});
  if (linear_proj_) {
    Tensor po = act(s, {B, T, C}, dtype_, p + "proj_out");                            // [B,HW,C]
    ops::linear(s, h, w(p + "proj_out.weight", {C, C}), &bout, po);
    Tensor pc = act(s, x.shape(), dtype_, p + "proj_out_nchw");                        // [B,C,H,W]
    ops::permute(s, po.reshape({B, H, W, C}), {0, 3, 1, 2}, pc);
    ops::binary(s, ops::BinaryOp::Add, pc, x, y);                                      // + input
  } else {
    Tensor hc = act(s, x.shape(), dtype_, p + "nchw");                                 // [B,C,H,W]
    ops::permute(s, h.reshape({B, H, W, C}), {0, 3, 1, 2}, hc);
    ops::conv2d(s, hc, w(p + "proj_out.weight", {C, C, 1, 1}), &bout, y, ops::conv_params(1, 0), &x);  // + input
  }
  return y;
}

Tensor UNet2DConditionModel::forward(Sequence& s, const Tensor& sample, const Tensor& timestep,
                                     const Tensor& encoder_hidden_states) {
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

  // Time embedding: time_proj -> linear_1 -> SiLU -> linear_2; every resnet applies SiLU to the
  // result before its time_emb_proj, so linear_2 carries that SiLU in its epilogue.
  const int64_t c0 = channels_[0];
  Tensor tp = act(s, {B, c0}, dtype_, "time_proj");                                   // [B,c0]
  ops::TimestepEmbeddingParams tparams;
  tparams.flip_sin_to_cos = c.value("flip_sin_to_cos", true);
  tparams.downscale_freq_shift = c.value("freq_shift", 0.0f);
  ops::timestep_embedding(s, timestep, tp, tparams);
  Tensor t1 = act(s, {B, temb_dim_}, dtype_, "time_embedding.linear_1");               // [B,4c0]
  Tensor l1b = w("time_embedding.linear_1.bias", {temb_dim_});
  ops::Epilogue silu;
  silu.has_activation = true;
  silu.activation = ops::Activation::SiLU;
  ops::linear(s, tp, w("time_embedding.linear_1.weight", {temb_dim_, c0}), &l1b, t1, silu);
  Tensor temb = act(s, {B, temb_dim_}, dtype_, "time_embedding.silu");                // [B,4c0] = silu(emb)
  Tensor l2b = w("time_embedding.linear_2.bias", {temb_dim_});
  ops::linear(s, t1, w("time_embedding.linear_2.weight", {temb_dim_, temb_dim_}), &l2b, temb, silu);

  // conv_in
  Tensor h = act(s, {B, c0, sample.dim(2), sample.dim(3)}, dtype_, "conv_in");        // [B,c0,H,W]
  Tensor cib = w("conv_in.bias", {c0});
  ops::conv2d(s, sample, w("conv_in.weight", {c0, in_ch, 3, 3}), &cib, h, ops::conv_params(1, 1));
  std::vector<Tensor> skips = {h};

  // Down blocks.
  for (size_t i = 0; i < n; ++i) {
    const std::string type = c.at("down_block_types")[i].get<std::string>();
    const bool cross = type == "CrossAttnDownBlock2D";
    if (!cross && type != "DownBlock2D") throw Error("unet: unsupported down block type " + type);
    const std::string pre = "down_blocks." + str(i);
    for (int j = 0; j < layers_; ++j) {
      h = resnet(s, pre + ".resnets." + str(j), h, temb, channels_[i]);               // [B,Ci,h,w]
      if (cross) h = transformer(s, pre + ".attentions." + str(j), h, ehs, heads_[i]);
      skips.push_back(h);
    }
    if (i + 1 < n) {
      const int64_t C = channels_[i];
      const Tensor dw = w(pre + ".downsamplers.0.conv.weight", {C, C, 3, 3});
      Tensor d = act(s, ops::conv2d_output_shape(h.shape(), dw.shape(), ops::conv_params(2, 1)), dtype_,
                     pre + ".downsample");                                              // [B,Ci,ceil(h/2),ceil(w/2)]
      Tensor db = w(pre + ".downsamplers.0.conv.bias", {C});
      ops::conv2d(s, h, dw, &db, d, ops::conv_params(2, 1));
      h = d;
      skips.push_back(h);
    }
  }

  // Mid block.
  if (c.value("mid_block_type", std::string("UNetMidBlock2DCrossAttn")) != "UNetMidBlock2DCrossAttn")
    throw Error("unet: unsupported mid block type");
  h = resnet(s, "mid_block.resnets.0", h, temb, channels_[n - 1]);                    // [B,Cn,h,w]
  h = transformer(s, "mid_block.attentions.0", h, ehs, heads_[n - 1]);
  h = resnet(s, "mid_block.resnets.1", h, temb, channels_[n - 1]);

  // Up blocks: reversed channels and head counts; each resnet eats the next skip.
  for (size_t i = 0; i < n; ++i) {
    const std::string type = c.at("up_block_types")[i].get<std::string>();
    const bool cross = type == "CrossAttnUpBlock2D";
    if (!cross && type != "UpBlock2D") throw Error("unet: unsupported up block type " + type);
    const std::string pre = "up_blocks." + str(i);
    const int64_t out_c = channels_[n - 1 - i];
    for (int j = 0; j <= layers_; ++j) {
      Tensor skip = skips.back();
      skips.pop_back();
      Tensor cat = act(s, {B, h.dim(1) + skip.dim(1), h.dim(2), h.dim(3)}, dtype_, pre + ".cat" + str(j));
      ops::concat(s, {h, skip}, 1, cat);                                              // [B,C+Cskip,h,w]
      h = resnet(s, pre + ".resnets." + str(j), cat, temb, out_c);                    // [B,Cout,h,w]
      if (cross) h = transformer(s, pre + ".attentions." + str(j), h, ehs, heads_[n - 1 - i]);
    }
    if (i + 1 < n) {
      // To the size of the skip met next: 2h x 2w unless a downsample rounded an odd size up
      // (diffusers' upsample_size, for latents not divisible by the UNet's downsampling).
      const Tensor& next = skips.back();
      Tensor u = act(s, {B, out_c, next.dim(2), next.dim(3)}, dtype_, pre + ".upsample");  // [B,Cout,~2h,~2w]
      ops::upsample_nearest(s, h, u);
      Tensor uc = act(s, u.shape(), dtype_, pre + ".upsample.conv");
      Tensor ub = w(pre + ".upsamplers.0.conv.bias", {out_c});
      ops::conv2d(s, u, w(pre + ".upsamplers.0.conv.weight", {out_c, out_c, 3, 3}), &ub, uc, ops::conv_params(1, 1));
      h = uc;
    }
  }

  // conv_norm_out + SiLU, conv_out.
  Tensor no = act(s, h.shape(), dtype_, "conv_norm_out");                             // [B,c0,H,W]
  ops::group_norm(s, h, w("conv_norm_out.weight", {c0}), w("conv_norm_out.bias", {c0}), no, groups_, eps_, true);
  Tensor y = act(s, {B, out_ch, h.dim(2), h.dim(3)}, dtype_, "conv_out");             // [B,out,H,W]
  Tensor cob = w("conv_out.bias", {out_ch});
  ops::conv2d(s, no, w("conv_out.weight", {out_ch, c0, 3, 3}), &cob, y, ops::conv_params(1, 1));

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
