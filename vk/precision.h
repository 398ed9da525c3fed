// The storage type the networks should use on a device when the user does not say.
// Every shader does its arithmetic in float32 and only stores in the storage type (see
// shaders/common.glsl), so float16 needs one feature: 16-bit storage buffers
// (storageBuffer16BitAccess); shaderFloat16 is not used. Float16 halves the weights' and
// activations' memory and bandwidth (SD 1.5's UNet: 1.7 GB instead of 3.4 GB, which alone
// decides whether it fits a 2 GiB heap such as lavapipe's), at a storage error of ~5e-4
// relative (tests/test_vae.cpp, vae_hot_tiny stats).
//   DType dt = preferred_dtype(ctx);  // F16 when the device can store it, else F32
#pragma once
#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk {

inline DType preferred_dtype(const Context& ctx) { return ctx.info().fp16_storage ? DType::F16 : DType::F32; }

}  // namespace sdvk
