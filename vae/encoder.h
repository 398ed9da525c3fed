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
  VaeConfig cfg_;
  nn::Params params_;
  Tensor count_;
};

}  // namespace sdvk::vae
