// ResnetBlock2D (diffusers v0.21.4; time_embedding_norm "default", output_scale_factor 1,
// dropout 0), the UNet's (with time embedding) and the VAE's (without):
//   x -> norm1+SiLU -> conv1 (+ time_emb_proj(silu(temb)) per channel) -> norm2+SiLU -> conv2
//   + shortcut(x), added in conv2's epilogue; conv_shortcut (1x1) when in != out channels.
#pragma once
#include <cstdint>
#include <string>

#include "nn/layers.h"

namespace sdvk::nn {

struct ResnetBlock2D {
  GroupNorm norm1;       // [Cin]
  Conv2d conv1;          // [Cout,Cin,3,3]
  Linear time_emb_proj;  // checkpoint [Cout,temb]; undefined without time embedding (temb_channels None)
  GroupNorm norm2;       // [Cout]
  Conv2d conv2;          // [Cout,Cout,3,3]
  Conv2d conv_shortcut;  // [Cout,Cin,1,1]; undefined when Cin == Cout
  int groups = 32;
  float eps = 1e-6f;

  // temb_channels 0: no time_emb_proj (the VAE's blocks).
  static ResnetBlock2D load(const Params& p, int64_t in_channels, int64_t out_channels, int64_t temb_channels,
                            int groups, float eps);
  int64_t out_channels() const { return conv1.weight.dim(0); }

  // x [B,Cin,H,W], temb_silu [B,temb] = silu(temb) (nullptr without time embedding)
  // -> [B,Cout,H,W]. `name` prefixes the temporaries' names.
  Tensor forward(Sequence& s, const Tensor& x, const Tensor* temb_silu, const std::string& name) const;
};

}  // namespace sdvk::nn
