// Kernel: one compute pipeline = embedded shader + specialization constants. Built lazily on
// first use, cached by key in memory and (through VkPipelineCache) on disk; a missing or corrupt
// cache file is just a miss.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <vulkan/vulkan.h>

namespace sdvk {

class Context;

constexpr uint32_t kPushConstantBytes = 128;  // the limit every Vulkan device guarantees

struct Kernel {
  std::string name;  // shader name plus spec constants, for profiles and errors
  uint32_t bindings = 0;  // storage buffers at set 0, bindings 0..n-1
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
};

class KernelCache {
 public:
  KernelCache(Context& ctx, bool use_disk_cache);
  ~KernelCache();

  // The pipeline for shader `shader` (see vk/shaders.h) with `bindings` storage buffers and
  // specialization constants `spec` (constant_id 0, 1, ... each 32 bits).
  const Kernel& get(const std::string& shader, uint32_t bindings, const std::vector<uint32_t>& spec = {});

  size_t pipelines_built() const { return built_; }
  const std::string& disk_cache_path() const { return path_; }

 private:
  struct Layout {
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
  };
  const Layout& layout_for(uint32_t bindings);
  void load_disk_cache();
  void save_disk_cache();

  Context& ctx_;
  std::string path_;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::map<uint32_t, Layout> layouts_;
  std::map<std::string, std::unique_ptr<Kernel>> kernels_;
  size_t built_ = 0;
};

}  // namespace sdvk
