// Transfers: copies between host memory and device memory the host cannot map (discrete GPUs
// without Resizable BAR, or SDVK_FORCE_STAGING=1), through one persistent staging ring.
// Uploads are batched: each is written into the ring and its copy recorded into one pending
// command buffer, which travels with the next submission (Context::submit_and_wait), so loading
// a network's weights is a few submissions, not one submit-and-wait per tensor. The ring is
// reused once that submission has completed; a full ring submits the batch and waits.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>
#include <vulkan/vulkan.h>

namespace sdvk {

class Allocation;
class Context;

class Transfers {
 public:
  explicit Transfers(Context& ctx);
  ~Transfers();
  Transfers(const Transfers&) = delete;
  Transfers& operator=(const Transfers&) = delete;

  // Queues a copy of `bytes` host bytes to `dst` at `dst_offset`: `data` may be reused at once.
  void upload(const void* data, VkBuffer dst, uint64_t dst_offset, uint64_t bytes);
  // Copies device bytes to the host: submits everything pending with it and waits.
  void download(VkBuffer src, uint64_t src_offset, void* data, uint64_t bytes);
  // Submits the pending copies, if any, and waits.
  void flush();

  // For Context::submit_and_wait: the pending copies, closed with a barrier that makes them
  // visible to later shaders and copies (VK_NULL_HANDLE when none) ...
  VkCommandBuffer take_pending();
  // ... and the notice that the submission carrying them has completed: the ring is free.
  void completed();

  uint64_t ring_bytes() const { return ring_bytes_; }

 private:
  struct Range {
    VkBuffer buffer;
    uint64_t begin, end;
  };
  // Ring space for `bytes` (<= ring_bytes_), flushing first when full; returns its offset.
  uint64_t reserve(uint64_t bytes);
  VkCommandBuffer begin();  // the pending command buffer, begun on first use

  Context& ctx_;
  uint64_t ring_bytes_;
  std::shared_ptr<Allocation> ring_;  // allocated on first use: mappable devices never need it
  uint64_t used_ = 0;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  bool recording_ = false, submitted_ = false;
  std::vector<Range> written_;  // copy destinations since the last barrier (write-after-write)
};

}  // namespace sdvk
