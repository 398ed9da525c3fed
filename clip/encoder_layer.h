// CLIPEncoderLayer (transformers), shared by the CLIP text and vision towers: pre-LN
// self-attention and MLP, each added back to the hidden states in place.
#pragma once
#include <string>

#include "nn/layers.h"
#include "nn/params.h"
#include "ops/unary.h"
#include "vk/sequence.h"

namespace sdvk {

struct ClipEncoderLayer {  // <tower>.encoder.layers.<i>.*
  nn::LayerNorm layer_norm1, layer_norm2;           // [W]
  // Checkpoint shapes [out,in] (nn::Linear holds them transposed).
  nn::Linear q_proj, k_proj, v_proj, out_proj;      // self_attn.*: [W,W]
  nn::Linear fc1, fc2;                              // mlp.*: [I,W], [W,I]

  static ClipEncoderLayer load(const nn::Params& p, int64_t width, int64_t intermediate);

  struct Options {
    int heads = 1;
    bool causal = false;  // the text tower's mask
    ops::Activation activation = ops::Activation::QuickGelu;
    float eps = 1e-5f;
    std::string tag;  // names the temporaries ("clip", "clipv")
  };
  // h [B,T,W] in place: h += out_proj(attn(ln1(h))); h += fc2(act(fc1(ln2(h)))).
  void forward(Sequence& s, const Tensor& h, const Options& o) const;
};

}  // namespace sdvk
