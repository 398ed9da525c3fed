// Which Vulkan memory types hold the engine's buffers: a pure function of the device's memory
// properties, so the choice can be tested on tables of GPUs this machine does not have.
#pragma once
#include <cstdint>
#include <vector>
#include <vulkan/vulkan.h>

namespace sdvk {

struct MemoryTypeChoice {
  // Types for weights and activations, best first; a block that does not fit in one (out of
  // memory) is tried in the next. The first is DEVICE_LOCAL on the largest device-local heap.
  std::vector<uint32_t> device;
  // Whether the host may map each of `device` (host-visible and coherent, and not forced off).
  std::vector<bool> device_mappable;
  // A HOST_VISIBLE|HOST_COHERENT type for staging uploads and downloads, outside device-local
  // heaps when possible (a 256 MiB BAR heap is too precious for staging).
  uint32_t staging = 0;
};

// Device memory is mapped only where it is host-visible on the chosen heap (unified memory,
// Resizable BAR); otherwise data travels through staging. `force_staging` treats every device
// type as unmappable (SDVK_FORCE_STAGING=1), so the staging path runs on unified-memory devices.
// Throws Error when the device has no usable type.
MemoryTypeChoice choose_memory_types(const VkPhysicalDeviceMemoryProperties& mem, bool force_staging);

}  // namespace sdvk
