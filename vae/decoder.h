// The AutoencoderKL decoder (diffusers v0.21.4): post_quant_conv and Decoder, latent -> image.
//   vae::Decoder dec(ctx, weights.component("vae"), DType::F16);
//   Sequence s(ctx);
//   Tensor img = dec.forward(s, latent);   // latent [N,4,h,w] -> [N,3,h*2^(L-1),w*2^(L-1)], kept
//   s.run(); dec.check_output();           // Error when the image has NaN/Inf
// No scaling factor is applied: pass latents / scaling_factor.
#pragma once
#include <memory>
#include <vector>

#include "model/weights.h"
#include "nn/layers.h"
#include "nn/params.h"
#include "vae/blocks.h"
#include "vk/sequence.h"

namespace sdvk::vae {

struct VaeConfig {
  std::vector<int64_t> block_out_channels;
  int layers_per_block = 2;
  int groups = 32;
  int64_t in_channels = 3, out_channels = 3, latent_channels = 4;
  float eps = 1e-6f;  // diffusers' Encoder / Decoder hard-code 1e-6
  static VaeConfig from(const Component& vae);
};

class Decoder {
 public:
  // Weights of the "vae" component (post_quant_conv.*, decoder.*), stored as `dtype`.
  Decoder(Context& ctx, const Component& vae, DType dtype);
  // Records the decode of latent [N,latent_channels,h,w] (dtype of the weights); returns the
  // image [N,out_channels,H,W], kept for download, and counts its NaN/Inf values.
  Tensor forward(Sequence& s, const Tensor& latent);
  // After run(): Error naming the stage when the last forward's output had NaN/Inf.
  void check_output() const;
  // The same from the count the run of `s` (the forward's sequence) copied out with its own
  // submission: no extra transfer where device memory is not mappable.
  void check_output(const Sequence& s) const;
  const VaeConfig& config() const { return cfg_; }
  // Image pixels per latent pixel along each side: 2^(levels-1) (8 for SD).
  int64_t upscale() const { return int64_t(1) << (cfg_.block_out_channels.size() - 1); }
  // Bytes of the largest single activation a decode of `latent` [N,C,h,w] records (for tiling
  // decisions: one tensor must fit the device's storage-buffer binding range).
  uint64_t largest_activation_bytes(const Shape& latent) const;
  DType dtype() const { return params_.dtype(); }

 private:
  struct Modules {
    nn::Conv2d post_quant_conv;               // [4,4,1,1]
    nn::Conv2d conv_in;                       // decoder.conv_in: [C_top,4,3,3]
    UNetMidBlock2D mid_block;                 // decoder.mid_block
    std::vector<UpDecoderBlock2D> up_blocks;  // decoder.up_blocks.<i>: C_top -> ... -> C0
    nn::GroupNorm conv_norm_out;              // decoder.conv_norm_out: [C0]
    nn::Conv2d conv_out;                      // decoder.conv_out: [3,C0,3,3]
  };
  Modules load() const;

  VaeConfig cfg_;
  nn::Params params_;
  // Loaded by the first forward(), so the weights upload (and their errors surface) there.
  std::unique_ptr<Modules> modules_;
  Tensor count_;
};

}  // namespace sdvk::vae
