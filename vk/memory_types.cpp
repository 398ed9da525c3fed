#include "vk/memory_types.h"

#include <algorithm>
#include <tuple>

#include "vk/error.h"

namespace sdvk {
namespace {

bool has(VkMemoryPropertyFlags f, VkMemoryPropertyFlags bits) { return (f & bits) == bits; }

constexpr VkMemoryPropertyFlags kHostIo = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

bool usable(VkMemoryPropertyFlags f) {
  return !(f & (VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT | VK_MEMORY_PROPERTY_PROTECTED_BIT));
}

}  // namespace

MemoryTypeChoice choose_memory_types(const VkPhysicalDeviceMemoryProperties& mem, bool force_staging) {
  auto flags = [&](uint32_t t) { return mem.memoryTypes[t].propertyFlags; };
  auto heap_of = [&](uint32_t t) { return mem.memoryTypes[t].heapIndex; };
  auto heap_size = [&](uint32_t t) { return mem.memoryHeaps[heap_of(t)].size; };
  auto device_local = [&](uint32_t t) { return bool(flags(t) & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT); };

  // Device: device-local types by heap size, largest first (the 256 MiB BAR heap of a discrete
  // GPU without Resizable BAR comes after its VRAM). On one heap, a host-visible type wins when
  // mapping is allowed (direct uploads), else a plain one. Host-only types come last: the GPU
  // can read system memory, slowly, which beats failing on a small carve-out (APUs).
  std::vector<uint32_t> order;
  for (uint32_t t = 0; t < mem.memoryTypeCount; t++)
    if (usable(flags(t))) order.push_back(t);
  auto rank = [&](uint32_t t) {
    int host_io = has(flags(t), kHostIo) ? 1 : 0;
    int wanted = force_staging ? 1 - host_io : host_io;
    return std::make_tuple(device_local(t) ? 1 : 0, heap_size(t), wanted,
                           (flags(t) & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 1 : 0);
  };
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return rank(a) > rank(b); });
  MemoryTypeChoice c;
  for (uint32_t t : order) {
    // Host-only memory the device cannot use for storage is not a candidate unless visible.
    if (!device_local(t) && !has(flags(t), kHostIo)) continue;
    c.device.push_back(t);
    c.device_mappable.push_back(!force_staging && has(flags(t), kHostIo));
  }
  if (c.device.empty() || !device_local(c.device.front()))
    throw Error("the Vulkan device reports no usable device-local memory type");

  // Staging: host-visible and coherent; prefer memory outside device-local heaps, then cached
  // (downloads read it back), then the larger heap.
  int best = -1;
  std::tuple<int, int, VkDeviceSize> best_rank{};
  for (uint32_t t = 0; t < mem.memoryTypeCount; t++) {
    if (!usable(flags(t)) || !has(flags(t), kHostIo)) continue;
    bool local_heap = mem.memoryHeaps[heap_of(t)].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    auto r = std::make_tuple(local_heap ? 0 : 1, (flags(t) & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 1 : 0, heap_size(t));
    if (best < 0 || r > best_rank) best = int(t), best_rank = r;
  }
  if (best < 0) throw Error("the Vulkan device reports no host-visible coherent memory type (needed for staging)");
  c.staging = uint32_t(best);
  return c;
}

}  // namespace sdvk
