// --precision: the storage type of weights and activations a command runs in.
#pragma once
#include <string>

#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk::gen {

// "fp16" / "fp32" / "auto" (fp16 where the device supports 16-bit storage).
DType pick_precision(const std::string& precision, const Context& ctx);

}  // namespace sdvk::gen
