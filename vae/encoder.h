// The AutoencoderKL encoder (diffusers v0.21.4): Encoder and quant_conv, image -> moments
// (mean and log-variance stacked on channels: [N, 2*latent_channels, h, w]).
//   vae::Encoder enc(ctx, weights.component("vae"), DType::F32);
//   Tensor m = enc.forward(s, image);   // image [N,3,H,W] in [-1,1]; kept
//   s.run(); enc.check_output();
#pragma once
#include "vae/decoder.h"

namespace sdvk::vae {

class Encoder {
 public:
  // Weights of the "vae" component (encoder.*, quant_conv.*), stored as `dtype`.
  Encoder(Context& ctx, const Component& vae, DType dtype);
  // Records image [N,in_channels,H,W] -> moments [N,2*latent_channels,H/2^(L-1),W/2^(L-1)], kept.
  Tensor forward(Sequence& s, const Tensor& image);
  void check_output() const;
  void check_output(const Sequence& s) const;  // as Decoder's: one submission per run
  const VaeConfig& config() const { return cfg_; }

 private:
  struct Modules {
    nn::Conv2d conv_in;                           // encoder.conv_in: [C0,3,3,3]
    std::vector<DownEncoderBlock2D> down_blocks;  // encoder.down_blocks.<i>: C0 -> ... -> C_top
    UNetMidBlock2D mid_block;                     // encoder.mid_block
    nn::GroupNorm conv_norm_out;                  // encoder.conv_norm_out: [C_top]
    nn::Conv2d conv_out;                          // encoder.conv_out: [8,C_top,3,3]
    nn::Conv2d quant_conv;                        // [8,8,1,1]
  };
  Modules load() const;

  VaeConfig cfg_;
  nn::Params params_;
  std::unique_ptr<Modules> modules_;  // loaded by the first forward(), as the decoder's
  Tensor count_;
};

}  // namespace sdvk::vae
