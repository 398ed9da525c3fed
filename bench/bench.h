// The op benchmark behind `sdvk bench`: each case times the Vulkan op (recorded once, replayed)
// and the plain C++ reference on the same shape in the same run, so the ratio is visible on
// any device.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "vk/context.h"
#include "vk/sequence.h"

namespace sdvk::bench {

struct Case {
  std::string name;   // "conv2d 320->320 3x3 64x64"
  double work = 0;    // floating-point operations, or elements read + written when `bytes` is set
  bool bytes = false;  // memory-bound: rate in GB/s (elements x storage size; the reference is float32)
  // Creates the inputs and records the op into the sequence (tensors are kept alive by it).
  std::function<void(Sequence&, DType)> record;
  // Runs the C++ reference once on inputs of the same shape.
  std::function<void()> reference;
};

// The cases at Stable Diffusion 1.5 shapes (bench/cases.cpp).
std::vector<Case> sd15_cases(Context& ctx);

}  // namespace sdvk::bench
