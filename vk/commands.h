// Command-buffer helpers shared by Sequence and Transfers: one memory barrier, the access
// masks of device work, and a command buffer with its fence.
#pragma once
#include <vulkan/vulkan.h>

namespace sdvk {

class Context;

// Every device stage the engine uses and what they read and write.
constexpr VkPipelineStageFlags kDeviceStages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kDeviceWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kDeviceAccess =
    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

// One global memory barrier: `src` accesses of `src_stage` made visible to `dst` of `dst_stage`.
inline void barrier(VkCommandBuffer cb, VkPipelineStageFlags src_stage, VkAccessFlags src,
                    VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = src;
  mb.dstAccessMask = dst;
  vkCmdPipelineBarrier(cb, src_stage, dst_stage, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

// A primary command buffer from the context's pool and an unsignalled fence; Error on failure.
void allocate_commands(Context& ctx, VkCommandBuffer* cb, VkFence* fence);

}  // namespace sdvk
