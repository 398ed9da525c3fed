// Small helpers shared by the op wrappers: shader variant names and argument checks that throw
// Error naming the op and the offending shapes.
#pragma once
#include <cstdint>
#include <initializer_list>
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

// "[2, 320, 64, 64] f16": a tensor's shape and storage type, for error messages.
std::string describe(const Tensor& t);
// Element indices are uint32 in the memory-bound shaders, and binary.comp's division needs them
// below 2^31: throws naming `op` when t has 2^31 elements or more.
void check_size(const std::string& op, const Tensor& t);
// y may be the input x exactly (same bytes, shape and dtype), but not overlap it otherwise: the
// memory-bound shaders read each input element before writing the same index of y only.
void check_alias(const std::string& op, const Tensor& x, const Tensor& y);
// The *_vec4 kernels move 4 elements per access: n a multiple of 4 (for binary, the innermost
// collapsed dim) and every tensor starting on a 4-element boundary (so far always true: views
// are aligned to the device's minimum storage offset, 16 bytes or more on common devices).
bool vec4_ok(int64_t n, std::initializer_list<Tensor> ts);

// Whether compute shaders get subgroups of min_size to max_size lanes with all of `operations`
// (VK_SUBGROUP_FEATURE_*_BIT): the CPU-family kernels that share values by subgroup operations.
bool compute_subgroups(const Context& ctx, uint32_t min_size, uint32_t max_size, uint32_t operations);

}  // namespace sdvk::ops
