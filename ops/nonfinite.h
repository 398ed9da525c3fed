// The non-finite counter run at stage boundaries (a network's output checked for NaN/Inf),
// float32 or float16 storage.
#pragma once
#include <cstdint>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

// Counts the NaN and +-Inf values of x into `count`, a [1] F32 tensor that it overwrites with
// the count as a float (exact up to 2^24). One pass over x between two one-invocation
// dispatches (zero the count; convert the uint the atomics summed into a float).
void nonfinite(Sequence& s, const Tensor& x, const Tensor& count);
// Downloads the count that nonfinite wrote.
uint64_t read_count(Context& ctx, const Tensor& count);

namespace ref {
uint64_t nonfinite(const std::vector<float>& x);
}  // namespace ref

}  // namespace sdvk::ops
