#include "vk/memory.h"

#include <algorithm>

#include "vk/context.h"
#include "vk/error.h"

namespace sdvk {

struct MemoryBlock {
  MemoryKind kind;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  uint64_t size = 0;
  uint8_t* mapped = nullptr;
  std::map<uint64_t, uint64_t> free;  // offset -> size, disjoint and coalesced
};

namespace {

std::string mib(uint64_t bytes) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1 << 20));
  return buf;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

constexpr uint64_t kStagingBlockBytes = 4ull << 20;

}  // namespace

Allocation::~Allocation() { owner_->release(block_, offset_, size_); }
VkBuffer Allocation::buffer() const { return block_->buffer; }
uint8_t* Allocation::mapped() const { return block_->mapped ? block_->mapped + offset_ : nullptr; }

Allocator::Allocator(Context& ctx) : ctx_(ctx) {
  vkGetPhysicalDeviceMemoryProperties(ctx.physical_device(), &properties_);
  choice_ = choose_memory_types(properties_, ctx.force_staging());
  alignment_ = std::max<uint64_t>(256, ctx.info().min_storage_offset_alignment);
  max_block_bytes_ = ctx.info().max_allocation_bytes / alignment_ * alignment_;
  uint64_t heap = properties_.memoryHeaps[properties_.memoryTypes[choice_.device.front()].heapIndex].size;
  block_bytes_ = std::min({block_bytes_, std::max<uint64_t>(heap / 8, 16ull << 20), max_block_bytes_});
}

Allocator::~Allocator() {
  VkDevice dev = ctx_.device();
  for (auto& b : blocks_) {
    if (b->mapped) vkUnmapMemory(dev, b->memory);
    vkDestroyBuffer(dev, b->buffer, nullptr);
    vkFreeMemory(dev, b->memory, nullptr);
  }
}

uint64_t Allocator::bytes_reserved() const {
  uint64_t n = 0;
  for (auto& b : blocks_)
    if (b->kind == MemoryKind::Device) n += b->size;
  return n;
}

MemoryBlock* Allocator::new_block(uint64_t bytes, MemoryKind kind, const std::string& what) {
  VkDevice dev = ctx_.device();
  const bool device = kind == MemoryKind::Device;
  std::vector<uint32_t> types = device ? choice_.device : std::vector<uint32_t>{choice_.staging};
  auto heap_size = [&](uint32_t type) { return properties_.memoryHeaps[properties_.memoryTypes[type].heapIndex].size; };
  uint64_t heap = 0;  // the largest a block may come from
  for (uint32_t t : types) heap = std::max<uint64_t>(heap, heap_size(t));
  auto oom = [&](VkResult r) {
    return Error("out of " + std::string(device ? "device" : "host-visible") + " memory allocating " + what +
                 ": asked " + mib(bytes) + " (" + std::to_string(bytes) + " bytes), heap size " + mib(heap) +
                 ", in use " + mib(in_use_) + " (" + vk_result_name(r) + ")");
  };
  if (bytes > heap) throw oom(VK_ERROR_OUT_OF_DEVICE_MEMORY);
  if (bytes > max_block_bytes_)
    throw Error(what + ": asked " + mib(bytes) + " in one piece, more than this device allocates at once (" +
                mib(max_block_bytes_) + ", maxMemoryAllocationSize/maxBufferSize); use a smaller size or tiling");

  auto block = std::make_unique<MemoryBlock>();
  block->kind = kind;
  block->size = bytes;
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
              VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = vkCreateBuffer(dev, &bci, nullptr, &block->buffer);
  if (r != VK_SUCCESS) throw oom(r);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, block->buffer, &req);

  // The preferred type first; on out-of-memory (a small device-local heap) the next candidate.
  r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
  bool map = false;
  for (size_t i = 0; i < types.size() && r != VK_SUCCESS; i++) {
    const uint32_t type = types[i];
    if (!(req.memoryTypeBits & (1u << type))) continue;
    if (req.size > heap_size(type)) continue;
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = type;
    r = vkAllocateMemory(dev, &ai, nullptr, &block->memory);
    map = device ? choice_.device_mappable[i] : true;
  }
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(dev, block->buffer, nullptr);
    throw oom(r);
  }
  vk_check(vkBindBufferMemory(dev, block->buffer, block->memory, 0), "vkBindBufferMemory");
  if (map) {
    void* p = nullptr;
    vk_check(vkMapMemory(dev, block->memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    block->mapped = static_cast<uint8_t*>(p);
  }
  block->free[0] = bytes;
  blocks_.push_back(std::move(block));
  return blocks_.back().get();
}

std::shared_ptr<Allocation> Allocator::allocate(uint64_t bytes, MemoryKind kind, const std::string& what) {
  uint64_t size = align_up(std::max<uint64_t>(bytes, 1), alignment_);
  MemoryBlock* chosen = nullptr;
  uint64_t offset = 0;
  for (auto& b : blocks_) {
    if (b->kind != kind) continue;
    for (auto& [off, len] : b->free)
      if (len >= size) {
        chosen = b.get();
        offset = off;
        break;
      }
    if (chosen) break;
  }
  if (!chosen) {
    // Staging blocks are smaller: the ring and a few per-sequence input/output buffers.
    const uint64_t usual = kind == MemoryKind::Device ? block_bytes_ : std::min(kStagingBlockBytes, max_block_bytes_);
    chosen = new_block(std::max(size, usual), kind, what);
    offset = 0;
  }
  uint64_t len = chosen->free[offset];
  chosen->free.erase(offset);
  if (len > size) chosen->free[offset + size] = len - size;
  if (kind == MemoryKind::Device) {
    in_use_ += size;
    peak_ = std::max(peak_, in_use_);
  }
  return std::shared_ptr<Allocation>(new Allocation(this, chosen, offset, size));
}

void Allocator::release(MemoryBlock* block, uint64_t offset, uint64_t size) {
  if (block->kind == MemoryKind::Device) in_use_ -= size;
  auto next = block->free.lower_bound(offset);
  if (next != block->free.end() && offset + size == next->first) {  // merge with the right
    size += next->second;
    next = block->free.erase(next);
  }
  if (next != block->free.begin()) {  // merge with the left
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      size = 0;
    }
  }
  if (size) block->free[offset] = size;
  // Give a wholly free block back to the driver, except the last of its kind.
  if (block->free.size() == 1 && block->free.begin()->second == block->size) {
    int same_kind = 0;
    for (auto& b : blocks_) same_kind += b->kind == block->kind;
    if (same_kind > 1) {
      // A pending staged copy may still target this block: it must run before the buffer goes.
      if (block->kind == MemoryKind::Device) ctx_.flush_transfers();
      VkDevice dev = ctx_.device();
      if (block->mapped) vkUnmapMemory(dev, block->memory);
      vkDestroyBuffer(dev, block->buffer, nullptr);
      vkFreeMemory(dev, block->memory, nullptr);
      blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(), [&](auto& b) { return b.get() == block; }));
    }
  }
}

}  // namespace sdvk
