// Building blocks shared by the VAE encoder and decoder (diffusers v0.21.4 AutoencoderKL):
// ResnetBlock2D without time embedding, the single-head spatial self-attention of the mid
// block, and UNetMidBlock2D (resnet, attention, resnet). Each records into a Sequence, with
// its activations as s.temp(); weights come from nn::Params under the checkpoint names.
#pragma once
#include <string>

#include "nn/params.h"
#include "vk/sequence.h"

namespace sdvk::vae {

// ResnetBlock2D (temb_channels=None, output_scale_factor=1, dropout 0):
// x -> norm1+SiLU -> conv1 -> norm2+SiLU -> conv2 (+ shortcut(x) as the conv's residual).
// conv_shortcut (1x1, bias) exists when in_channels != out_channels.
Tensor resnet_block(Sequence& s, const nn::Params& p, const Tensor& x, int64_t out_channels, int groups, float eps,
                    const std::string& name);

// diffusers Attention as built by UNetMidBlock2D for the VAE (heads = 1, dim_head = C,
// residual_connection, bias): group_norm -> tokens [B,HW,C] -> to_q/to_k/to_v -> attention
// (scale 1/sqrt(C)) -> to_out.0 + residual tokens -> back to NCHW.
Tensor attention_block(Sequence& s, const nn::Params& p, const Tensor& x, int groups, float eps,
                       const std::string& name);

// UNetMidBlock2D(num_layers=1, add_attention=True): resnets.0 -> attentions.0 -> resnets.1.
Tensor mid_block(Sequence& s, const nn::Params& p, const Tensor& x, int groups, float eps, const std::string& name);


// Throws Error naming `stage` when the count written by ops::nonfinite is not zero.
void check_finite(Context& ctx, const Tensor& count, const std::string& stage);
// The same with the count `s` copied out in its own submission (declared with s.output()).
void check_finite(const Sequence& s, const Tensor& count, const std::string& stage);
void report_nonfinite(uint64_t bad, const std::string& stage);

}  // namespace sdvk::vae
