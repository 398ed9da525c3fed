// The storage type the networks should use on a device when the user does not say.
// Every shader does its arithmetic in float32 and only stores in the storage type (see
// shaders/common.glsl), so float16 needs one feature: 16-bit storage buffers
// (storageBuffer16BitAccess); shaderFloat16 is not used. Float16 halves the weights' and
// activations' memory and bandwidth (SD 1.5's UNet: 1.6 GiB instead of 3.2 GiB, the difference
// between fitting a 2 GiB device heap or not), at a storage error of ~5e-4 relative
// (tests/test_vae.cpp, vae_hot_tiny stats). On a CPU device memory is host memory and the
// conversions cost time (lavapipe: conv2d 2.9 GFLOP/s in f16 vs 6.5 in f32, README bench);
// the choice here still favours memory, as a generate command must first of all fit.
//   DType dt = preferred_dtype(ctx);  // F16 when the device can store it, else F32
#pragma once
#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk {

inline DType preferred_dtype(const Context& ctx) { return ctx.info().fp16_storage ? DType::F16 : DType::F32; }

}  // namespace sdvk
