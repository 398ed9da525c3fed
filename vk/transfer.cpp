#include "vk/transfer.h"

#include <algorithm>
#include <cstring>

#include "vk/commands.h"
#include "vk/context.h"
#include "vk/error.h"
#include "vk/memory.h"

namespace sdvk {
namespace {

constexpr uint64_t kRingBytes = 64ull << 20;  // a batch of weights per submission
constexpr uint64_t kCopyAlignment = 256;

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
    allocate_commands(ctx_, &cb_, &fence_);
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
