// Fused multi-head attention with an online softmax (flash-attention style): the Tq x Tk score
// matrix never exists in device memory, only one block of it per workgroup or invocation.
#pragma once
#include <cstdint>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// o = softmax(scale * q k^T [+ causal mask]) v for each head, in the layouts diffusers and
// transformers keep before splitting heads: q [B,Tq,H*D], k and v [B,Tk,H*D], o [B,Tq,H*D];
// head h uses channels h*D .. h*D+D-1. scale <= 0 means 1/sqrt(D). causal: query i sees keys
// j <= i (CLIP's text tower; needs Tq == Tk). Scores, softmax statistics and the accumulator are
// float32 for float16 storage too. o must not alias q, k or v. On lavapipe, whose loops stop
// after 65535 iterations per invocation, key sequences beyond that reach throw Error (CPU
// kernels: about 90K keys at D=40, 25K at D=160).
void attention(Sequence& s, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, int heads,
               bool causal = false, float scale = 0.0f);

// The GPU family's tiles (attention.comp): BQ query rows per workgroup, BK keys per tile.
struct AttentionTiles {
  uint32_t bq = 0, bk = 0;
  bool operator==(const AttentionTiles&) const = default;
};
// What attention() picks for head dim `head_dim` on this device: the largest of (64, 64),
// (64, 32), (32, 32), (32, 16), (16, 16), (16, 8), (8, 8) that fits its shared memory (32 KiB
// on lavapipe; 48 KiB or more on most GPUs).
AttentionTiles attention_gpu_tiles(const Context& ctx, uint32_t head_dim);
// Every tile configuration (BQ, BK in {16, 32, 64}) that fits this device's shared memory at
// `head_dim`, and the automatic choice, so tests can run each one a device would pick.
std::vector<AttentionTiles> attention_gpu_tile_configs(const Context& ctx, uint32_t head_dim);
// Makes attention() use `tiles` in the GPU family from now on ({0, 0}: the automatic choice).
// For tests; attention() throws Error when they do not fit the device.
void force_attention_gpu_tiles(AttentionTiles tiles);

namespace ref {
// softmax(scale q k^T) v per head in double, straight from the definition. Flat row-major
// vectors in the layouts above. `rows` picks the query rows to compute (empty: all of them);
// the result is [B, rows, H*D] in that order.
std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                             int64_t batch, int64_t tq, int64_t tk, int heads, int64_t head_dim, bool causal,
                             float scale, const std::vector<int64_t>& rows = {});
}  // namespace ref

}  // namespace sdvk::ops
