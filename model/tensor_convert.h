// Float tensors read out of a mapping into the engine's two storage formats. Sources may be
// F32, F16 or BF16; BF16 and F32 hold values float16 cannot, and that is reported, never clipped.
#pragma once
#include <cstdint>
#include <vector>

#include "model/safetensors.h"

namespace sdvk {

float bf16_to_float(uint16_t b);

// Every element as float32; throws Error naming the file and tensor for a non-float dtype.
std::vector<float> to_f32(const TensorInfo& t);

// Token ids (int64 or int32) as float32, which holds them exactly below 2^24 (how the engine's
// embedding op takes them). Throws Error naming the file and tensor for another dtype or an id
// outside [0, 2^24).
std::vector<float> ids_to_f32(const TensorInfo& t);

// What storing a tensor as float16 would lose.
struct F16RangeReport {
  size_t overflow = 0;   // finite values beyond float16's largest (65504 after rounding)
  size_t underflow = 0;  // non-zero values that become zero
  double largest = 0.0;  // largest finite magnitude in the tensor
};
F16RangeReport check_f16_range(const TensorInfo& t);

// IEEE float16 bits of every element (round to nearest even). Throws Error naming the file,
// the tensor, how many values overflow and the largest one when any finite value would become
// Inf: such a tensor must stay in float32.
std::vector<uint16_t> to_f16(const TensorInfo& t);

}  // namespace sdvk
