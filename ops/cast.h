// Storage type conversion between float32 and float16.
#pragma once

#include "vk/sequence.h"

namespace sdvk::ops {

// y = x converted to y's dtype; same shape, any dtype pair. float32 -> float16 rounds to
// nearest even, beyond 65504 gives Inf, subnormals are kept (as a PyTorch cast does).
void cast(Sequence& s, const Tensor& x, const Tensor& y);

namespace ref {
// The float16 value nearest to x (ties to even), Inf beyond the float16 range, NaN kept.
float to_half(float x);
}  // namespace ref

}  // namespace sdvk::ops
