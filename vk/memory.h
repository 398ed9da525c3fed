// Device memory: large blocks, each one VkDeviceMemory bound to one VkBuffer, sub-allocated
// first-fit with coalescing free lists. Memory types come from choose_memory_types
// (vk/memory_types.h); a block that does not fit in the preferred type is tried in the next.
// Blocks never exceed the device's largest allocation. Running out gives an Error with the
// bytes asked and the heap size, never a crash.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <vulkan/vulkan.h>

#include "vk/memory_types.h"

namespace sdvk {

class Context;

enum class MemoryKind {
  Device,   // device-local storage for weights and activations
  Staging,  // host-visible, for uploads/downloads when device memory cannot be mapped
};

struct MemoryBlock;

// A byte range in a block; returns itself to the allocator when destroyed.
class Allocation {
 public:
  ~Allocation();
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;

  VkBuffer buffer() const;
  uint64_t offset() const { return offset_; }  // in the buffer
  uint64_t size() const { return size_; }
  // Host pointer to the first byte, or nullptr when the memory is not host-visible.
  uint8_t* mapped() const;

 private:
  friend class Allocator;
  Allocation(class Allocator* owner, MemoryBlock* block, uint64_t offset, uint64_t size)
      : owner_(owner), block_(block), offset_(offset), size_(size) {}
  class Allocator* owner_;
  MemoryBlock* block_;
  uint64_t offset_, size_;
};

class Allocator {
 public:
  explicit Allocator(Context& ctx);
  ~Allocator();

  // `what` names the tensor for the out-of-memory message.
  std::shared_ptr<Allocation> allocate(uint64_t bytes, MemoryKind kind, const std::string& what);

  // Whether device memory of the preferred type is mapped (false: uploads and downloads stage).
  bool device_memory_mappable() const { return choice_.device_mappable.front(); }
  // The largest single allocation (device limit, or SDVK_MAX_ALLOCATION_SIZE).
  uint64_t max_allocation_bytes() const { return max_block_bytes_; }
  uint64_t bytes_in_use() const { return in_use_; }       // Device kind, live allocations
  uint64_t peak_bytes_in_use() const { return peak_; }     // since start or reset_peak()
  uint64_t bytes_reserved() const;                         // all Device blocks
  void reset_peak() { peak_ = in_use_; }

 private:
  friend class Allocation;
  void release(MemoryBlock* block, uint64_t offset, uint64_t size);
  MemoryBlock* new_block(uint64_t bytes, MemoryKind kind, const std::string& what);

  Context& ctx_;
  VkPhysicalDeviceMemoryProperties properties_;
  MemoryTypeChoice choice_;
  uint64_t alignment_ = 256;
  uint64_t block_bytes_ = 128ull << 20;  // usual block size; larger requests get their own
  uint64_t max_block_bytes_ = 0;
  std::vector<std::unique_ptr<MemoryBlock>> blocks_;
  uint64_t in_use_ = 0, peak_ = 0;
};

}  // namespace sdvk
