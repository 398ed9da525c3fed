// The AutoencoderKL's blocks (diffusers v0.21.4), made of the nn/ modules: UNetMidBlock2D,
// DownEncoderBlock2D and UpDecoderBlock2D, with the VAE's settings (no time embedding, one
// attention head, norm eps 1e-6). Plus the NaN/Inf checks of the encoder's and decoder's output.
#pragma once
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/downsample_2d.h"
#include "nn/params.h"
#include "nn/resnet_block_2d.h"
#include "nn/upsample_2d.h"
#include "vk/sequence.h"

namespace sdvk::vae {

// UNetMidBlock2D(num_layers=1, add_attention=True): resnets.0 -> attentions.0 -> resnets.1.
struct UNetMidBlock2D {
  std::vector<nn::ResnetBlock2D> resnets;  // 2, [C] -> [C]
  std::vector<nn::Attention> attentions;   // 1, one head over the pixels, with group_norm
  static UNetMidBlock2D load(const nn::Params& p, int64_t channels, int groups, float eps);
  // x [N,C,h,w] -> [N,C,h,w].
  Tensor forward(Sequence& s, const Tensor& x, const std::string& name) const;
};

// DownEncoderBlock2D: resnets, then (all but the last level) a stride-2 downsample.
struct DownEncoderBlock2D {
  std::vector<nn::ResnetBlock2D> resnets;     // layers_per_block, [Cin] -> [Cout]
  std::vector<nn::Downsample2D> downsamplers;  // 0 or 1, padded bottom and right
  Tensor forward(Sequence& s, const Tensor& x, const std::string& name) const;
};

// UpDecoderBlock2D: resnets, then (all but the last level) a 2x nearest upsample and conv.
struct UpDecoderBlock2D {
  std::vector<nn::ResnetBlock2D> resnets;   // layers_per_block + 1, [Cin] -> [Cout]
  std::vector<nn::Upsample2D> upsamplers;   // 0 or 1
  Tensor forward(Sequence& s, const Tensor& x, const std::string& name) const;
};

// Throws Error naming `stage` when the count written by ops::nonfinite is not zero.
void check_finite(Context& ctx, const Tensor& count, const std::string& stage);
// The same with the count `s` copied out in its own submission (declared with s.output()).
void check_finite(const Sequence& s, const Tensor& count, const std::string& stage);
void report_nonfinite(uint64_t bad, const std::string& stage);

}  // namespace sdvk::vae
