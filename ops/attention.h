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

namespace ref {
// softmax(scale q k^T) v per head in double, straight from the definition. Flat row-major
// vectors in the layouts above. `rows` picks the query rows to compute (empty: all of them);
// the result is [B, rows, H*D] in that order.
std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                             int64_t batch, int64_t tq, int64_t tk, int heads, int64_t head_dim, bool causal,
                             float scale, const std::vector<int64_t>& rows = {});
}  // namespace ref

}  // namespace sdvk::ops
