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

}  // namespace

Allocation::~Allocation() { owner_->release(block_, offset_, size_); }
VkBuffer Allocation::buffer() const { return block_->buffer; }
uint8_t* Allocation::mapped() const { return block_->mapped ? block_->mapped + offset_ : nullptr; }

Allocator::Allocator(Context& ctx) : ctx_(ctx) {
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(ctx.physical_device(), &mem);
  // Scores: Device wants DEVICE_LOCAL (host-visible too is a bonus: direct uploads on
  // unified-memory devices); Staging wants HOST_VISIBLE|COHERENT, cached is a bonus.
  int best[2] = {-1, -1}, best_score[2] = {-1, -1};
  for (uint32_t i = 0; i < mem.memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = mem.memoryTypes[i].propertyFlags;
    bool local = f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    bool visible = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    bool cached = f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    if (f & (VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT | VK_MEMORY_PROPERTY_PROTECTED_BIT)) continue;
    int dev = local ? 4 + (visible ? 1 : 0) : (visible ? 1 : 0);
    int stg = visible ? 2 + (cached ? 1 : 0) : -1;
    if (dev > best_score[0]) best_score[0] = dev, best[0] = int(i);
    if (stg > best_score[1]) best_score[1] = stg, best[1] = int(i);
  }
  if (best[0] < 0 || best[1] < 0) throw Error("device has no usable memory type");
  for (int k = 0; k < 2; k++) {
    type_index_[k] = uint32_t(best[k]);
    heap_index_[k] = mem.memoryTypes[best[k]].heapIndex;
  }
  VkMemoryPropertyFlags df = mem.memoryTypes[best[0]].propertyFlags;
  device_mappable_ = (df & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (df & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  alignment_ = std::max<uint64_t>(256, ctx.info().min_storage_offset_alignment);
  uint64_t heap = mem.memoryHeaps[heap_index_[0]].size;
  block_bytes_ = std::min<uint64_t>(block_bytes_, std::max<uint64_t>(heap / 8, 16ull << 20));
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
  auto block = std::make_unique<MemoryBlock>();
  block->kind = kind;
  block->size = bytes;
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(ctx_.physical_device(), &mem);
  uint64_t heap = mem.memoryHeaps[heap_index_[int(kind)]].size;
  auto oom = [&](VkResult r) {
    return Error("out of " + std::string(kind == MemoryKind::Device ? "device" : "host-visible") +
                 " memory allocating " + what + ": asked " + mib(bytes) + " (" +
                 std::to_string(bytes) + " bytes), heap size " + mib(heap) + ", in use " +
                 mib(in_use_) + " (" + vk_result_name(r) + ")");
  };
  if (bytes > heap) throw oom(VK_ERROR_OUT_OF_DEVICE_MEMORY);

  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
              VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = vkCreateBuffer(dev, &bci, nullptr, &block->buffer);
  if (r != VK_SUCCESS) throw oom(r);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, block->buffer, &req);
  if (!(req.memoryTypeBits & (1u << type_index_[int(kind)]))) {
    vkDestroyBuffer(dev, block->buffer, nullptr);
    throw Error("chosen memory type cannot hold storage buffers on this device");
  }
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = type_index_[int(kind)];
  r = vkAllocateMemory(dev, &ai, nullptr, &block->memory);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(dev, block->buffer, nullptr);
    throw oom(r);
  }
  vk_check(vkBindBufferMemory(dev, block->buffer, block->memory, 0), "vkBindBufferMemory");
  if (kind == MemoryKind::Staging || device_mappable_) {
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
    chosen = new_block(std::max(size, block_bytes_), kind, what);
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
      VkDevice dev = ctx_.device();
      if (block->mapped) vkUnmapMemory(dev, block->memory);
      vkDestroyBuffer(dev, block->buffer, nullptr);
      vkFreeMemory(dev, block->memory, nullptr);
      blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(), [&](auto& b) { return b.get() == block; }));
    }
  }
}

}  // namespace sdvk
