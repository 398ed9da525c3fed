#include "vk/transfer.h"

#include <algorithm>
#include <cstring>

#include "vk/context.h"
#include "vk/error.h"
#include "vk/memory.h"

namespace sdvk {
namespace {

constexpr uint64_t kRingBytes = 64ull << 20;  // a batch of weights per submission
constexpr uint64_t kCopyAlignment = 256;

void barrier(VkCommandBuffer cb, VkPipelineStageFlags src_stage, VkAccessFlags src, VkPipelineStageFlags dst_stage,
             VkAccessFlags dst) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = src;
  mb.dstAccessMask = dst;
  vkCmdPipelineBarrier(cb, src_stage, dst_stage, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

constexpr VkPipelineStageFlags kDeviceStages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kDeviceWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kDeviceAccess =
    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

}  // namespace

Transfers::Transfers(Context& ctx) : ctx_(ctx) {
  ring_bytes_ = std::min(kRingBytes, ctx.info().max_allocation_bytes);
}

Transfers::~Transfers() {
  if (recording_) vkEndCommandBuffer(cb_);  // pending copies are dropped with the context
  recording_ = false;
  ring_.reset();
  if (cb_) vkFreeCommandBuffers(ctx_.device(), ctx_.command_pool(), 1, &cb_);
  if (fence_) vkDestroyFence(ctx_.device(), fence_, nullptr);
}

VkCommandBuffer Transfers::begin() {
  if (recording_) return cb_;
  if (!cb_) {  // first staged transfer: mappable devices never get here
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = ctx_.command_pool();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    vk_check(vkAllocateCommandBuffers(ctx_.device(), &ai, &cb_), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    vk_check(vkCreateFence(ctx_.device(), &fci, nullptr, &fence_), "vkCreateFence");
  }
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vk_check(vkBeginCommandBuffer(cb_, &bi), "vkBeginCommandBuffer");
  // Earlier submissions' shaders and copies may still read or write the destinations.
  barrier(cb_, kDeviceStages, kDeviceWrites, VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
  recording_ = true;
  written_.clear();
  return cb_;
}

uint64_t Transfers::reserve(uint64_t bytes) {
  if (!ring_) ring_ = ctx_.allocator().allocate(ring_bytes_, MemoryKind::Staging, "staging ring");
  if (used_ + bytes > ring_bytes_) flush();
  uint64_t offset = used_;
  used_ = (used_ + bytes + kCopyAlignment - 1) / kCopyAlignment * kCopyAlignment;
  return offset;
}

void Transfers::upload(const void* data, VkBuffer dst, uint64_t dst_offset, uint64_t bytes) {
  const auto* src = static_cast<const uint8_t*>(data);
  for (uint64_t done = 0; done < bytes;) {
    uint64_t n = std::min(bytes - done, ring_bytes_);
    uint64_t at = reserve(n);
    std::memcpy(ring_->mapped() + at, src + done, n);
    VkCommandBuffer cb = begin();
    // The same bytes written twice in one batch (a tensor uploaded again) must stay in order.
    const Range r{dst, dst_offset + done, dst_offset + done + n};
    for (const Range& w : written_)
      if (w.buffer == r.buffer && w.begin < r.end && r.begin < w.end) {
        barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_TRANSFER_WRITE_BIT);
        written_.clear();
        break;
      }
    written_.push_back(r);
    VkBufferCopy region{ring_->offset() + at, dst_offset + done, n};
    vkCmdCopyBuffer(cb, ring_->buffer(), dst, 1, &region);
    done += n;
  }
}

void Transfers::download(VkBuffer src, uint64_t src_offset, void* data, uint64_t bytes) {
  auto* out = static_cast<uint8_t*>(data);
  for (uint64_t done = 0; done < bytes;) {
    uint64_t n = std::min(bytes - done, ring_bytes_);
    uint64_t at = reserve(n);
    VkCommandBuffer cb = begin();
    barrier(cb, kDeviceStages, kDeviceWrites, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    written_.clear();
    VkBufferCopy region{src_offset + done, ring_->offset() + at, n};
    vkCmdCopyBuffer(cb, src, ring_->buffer(), 1, &region);
    barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT);
    flush();
    std::memcpy(out + done, ring_->mapped() + at, n);
    done += n;
  }
}

void Transfers::flush() {
  if (recording_) ctx_.submit_and_wait(VK_NULL_HANDLE, fence_);
}

VkCommandBuffer Transfers::take_pending() {
  if (!recording_) return VK_NULL_HANDLE;
  // The copies' writes become visible to every later shader and copy in submission order.
  barrier(cb_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, kDeviceStages, kDeviceAccess);
  vk_check(vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
  recording_ = false;
  submitted_ = true;
  return cb_;
}

void Transfers::completed() {
  if (!submitted_) return;
  submitted_ = false;
  used_ = 0;
}

}  // namespace sdvk
