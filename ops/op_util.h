// Small helpers shared by the op wrappers: shader variant names and argument checks that throw
// Error naming the op and the offending shapes.
#pragma once
#include <string>

#include "vk/context.h"
#include "vk/error.h"
#include "vk/kernel.h"
#include "vk/sequence.h"
#include "vk/tensor.h"

namespace sdvk::ops {

// "<shader>_f32" or "<shader>_f16": the variant for a storage type. Throws when float16 is
// asked on a device without 16-bit storage.
std::string variant(const Context& ctx, const std::string& shader, DType dtype);

void check(bool ok, const std::string& op, const std::string& problem);
void check_same_dtype(const std::string& op, const Tensor& a, const Tensor& b);
void check_same_shape(const std::string& op, const Tensor& a, const Tensor& b);

}  // namespace sdvk::ops
