// UNet2DConditionModel (diffusers v0.21.4), the Stable Diffusion 1.x / 2.x / XL subset:
// positional timestep embedding (plus SDXL's text_time add_embedding), CrossAttnDownBlock2D /
// DownBlock2D, UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D / UpBlock2D, ResnetBlock2D,
// Transformer2DModel (conv or linear projections) with a per-level number of
// BasicTransformerBlocks (self-attention, cross-attention, GEGLU).
// Every op runs on the device; forward() only records into a Sequence.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/weights.h"
#include "nn/downsample_2d.h"
#include "nn/layers.h"
#include "nn/params.h"
#include "nn/resnet_block_2d.h"
#include "nn/transformer_2d.h"
#include "nn/upsample_2d.h"
#include "vk/sequence.h"
#include "vk/tensor.h"

namespace sdvk::unet {

class UNet2DConditionModel {
 public:
  // The architecture comes from component.config (diffusers key names). Weights are uploaded
  // once, on first use, in `dtype` storage. `component` must outlive the model.
  UNet2DConditionModel(Context& ctx, const Component& component, DType dtype);

  // SDXL's micro-conditioning (addition_embed_type "text_time"), one row per sample row:
  struct TextTime {
    Tensor text_embeds;  // [B,P] pooled text embedding (model dtype)
    Tensor time_ids;     // [B,6] float32: original size (h,w), crop top-left (y,x), target size (h,w)
  };

  // Records the forward pass into s:
  //   sample [B,in_channels,H,W] (model dtype), timestep [B] float32,
  //   encoder_hidden_states [B,T,cross_attention_dim] (model dtype), text_time (SDXL configs
  //   only, required there)
  //   -> [B,out_channels,H,W] (model dtype, a kept temporary of s).
  // Any H and W: each up block upsamples to its skip connection's size. Also records a NaN/Inf
  // count of the output; call check_output() after s.run().
  Tensor forward(Sequence& s, const Tensor& sample, const Tensor& timestep, const Tensor& encoder_hidden_states,
                 const TextTime* text_time = nullptr);

  // Whether forward() needs text_time (SDXL), and the pooled width P it takes.
  bool has_text_time() const { return add_in_dim_ > 0; }
  int64_t text_embeds_dim() const { return add_in_dim_ - 6 * add_time_dim_; }

  // Throws Error("unet: ... non-finite values in the output") when the last run produced any.
  void check_output() const;
  // The same, reading the count that the run of `s` (the forward's sequence) copied out with
  // its own submission: no extra transfer when device memory is not mappable.
  void check_output(const Sequence& s) const;

  DType dtype() const { return dtype_; }
  const nlohmann::json& config() const { return config_; }

 private:
  // The modules, named as the checkpoint's keys (block types in the comments are diffusers').
  struct Block {  // down_blocks.<i>, mid_block, up_blocks.<i>
    std::vector<nn::ResnetBlock2D> resnets;
    std::vector<nn::Transformer2DModel> attentions;  // CrossAttn* blocks and the mid block
    std::vector<nn::Downsample2D> downsamplers;      // all down blocks but the last
    std::vector<nn::Upsample2D> upsamplers;          // all up blocks but the last
  };
  struct TimestepEmbedding {  // time_embedding.*
    nn::Linear linear_1, linear_2;  // checkpoint [4c0,c0], [4c0,4c0]
  };
  struct Modules {
    TimestepEmbedding time_embedding;
    TimestepEmbedding add_embedding;  // SDXL: [4c0,P+6*add_time_dim], [4c0,4c0]
    nn::Conv2d conv_in;
    std::vector<Block> down_blocks;  // CrossAttnDownBlock2D / DownBlock2D
    Block mid_block;                 // UNetMidBlock2DCrossAttn
    std::vector<Block> up_blocks;    // CrossAttnUpBlock2D / UpBlock2D
    nn::GroupNorm conv_norm_out;
    nn::Conv2d conv_out;
  };
  Modules load() const;
  void report_nonfinite(uint64_t bad) const;

  Context& ctx_;
  nn::Params params_;
  DType dtype_;
  nlohmann::json config_;
  int groups_;
  float eps_;
  int64_t temb_dim_, cross_dim_;
  std::vector<int64_t> channels_;  // block_out_channels
  std::vector<int> heads_;               // per down block
  std::vector<int> transformer_layers_;  // per down block; the mid block takes the last
  int layers_;
  int64_t add_in_dim_ = 0, add_time_dim_ = 0;  // SDXL's add_embedding input and sinusoid widths
  // Loaded by the first forward(), so the weights upload (and their errors surface) there.
  std::unique_ptr<Modules> modules_;
  Tensor nonfinite_;
};

}  // namespace sdvk::unet
