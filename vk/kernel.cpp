#include "vk/kernel.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "vk/context.h"
#include "vk/error.h"
#include "vk/shaders.h"

namespace sdvk {

const EmbeddedShader& find_shader(std::string_view name) {
  for (auto& s : embedded_shaders())
    if (name == s.name) return s;
  throw Error("no embedded shader named '" + std::string(name) + "'");
}

namespace {

std::string cache_dir() {
  if (const char* d = std::getenv("SDVK_CACHE_DIR")) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/sdvk";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/sdvk";
  return "";
}

}  // namespace

KernelCache::KernelCache(Context& ctx, bool use_disk_cache) : ctx_(ctx) {
  if (use_disk_cache) {
    std::string dir = cache_dir();
    if (!dir.empty()) {
      char name[96];
      snprintf(name, sizeof name, "/pipelines-%04x-%04x-%08x.bin", ctx.info().vendor_id, ctx.info().device_id,
               ctx.info().driver_version);
      path_ = dir + name;
    }
  }
  load_disk_cache();
}

KernelCache::~KernelCache() {
  VkDevice dev = ctx_.device();
  save_disk_cache();
  for (auto& [key, k] : kernels_) vkDestroyPipeline(dev, k->pipeline, nullptr);
  for (auto& [n, l] : layouts_) {
    vkDestroyPipelineLayout(dev, l.layout, nullptr);
    vkDestroyDescriptorSetLayout(dev, l.set_layout, nullptr);
  }
  if (cache_) vkDestroyPipelineCache(dev, cache_, nullptr);
}

void KernelCache::load_disk_cache() {
  std::vector<char> data;
  if (!path_.empty()) {
    std::ifstream f(path_, std::ios::binary);
    if (f) data.assign(std::istreambuf_iterator<char>(f), {});
  }
  // Hand the driver only a cache whose header names this exact device and driver; anything
  // else (truncated, corrupt, another GPU) is ignored.
  const auto& info = ctx_.info();
  bool valid = data.size() >= 16 + VK_UUID_SIZE;
  if (valid) {
    uint32_t header[4];
    std::memcpy(header, data.data(), 16);
    valid = header[0] >= 16 + VK_UUID_SIZE && header[0] <= data.size() &&
            header[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && header[2] == info.vendor_id &&
            header[3] == info.device_id &&
            std::memcmp(data.data() + 16, info.pipeline_cache_uuid, VK_UUID_SIZE) == 0;
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  if (valid) {
    ci.initialDataSize = data.size();
    ci.pInitialData = data.data();
  }
  if (vkCreatePipelineCache(ctx_.device(), &ci, nullptr, &cache_) != VK_SUCCESS) {
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    vk_check(vkCreatePipelineCache(ctx_.device(), &ci, nullptr, &cache_), "vkCreatePipelineCache");
  }
}

void KernelCache::save_disk_cache() {
  if (path_.empty() || built_ == 0 || !cache_) return;
  size_t n = 0;
  if (vkGetPipelineCacheData(ctx_.device(), cache_, &n, nullptr) != VK_SUCCESS || n == 0) return;
  std::vector<char> data(n);
  if (vkGetPipelineCacheData(ctx_.device(), cache_, &n, data.data()) != VK_SUCCESS) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  std::string tmp = path_ + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f.write(data.data(), std::streamsize(n))) {
      std::filesystem::remove(tmp, ec);
      return;  // an unwritable cache is not an error: the next run compiles again
    }
  }
  std::filesystem::rename(tmp, path_, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

const KernelCache::Layout& KernelCache::layout_for(uint32_t bindings) {
  auto it = layouts_.find(bindings);
  if (it != layouts_.end()) return it->second;
  std::vector<VkDescriptorSetLayoutBinding> b(bindings);
  for (uint32_t i = 0; i < bindings; i++)
    b[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dci.bindingCount = bindings;
  dci.pBindings = b.data();
  Layout l;
  vk_check(vkCreateDescriptorSetLayout(ctx_.device(), &dci, nullptr, &l.set_layout), "vkCreateDescriptorSetLayout");
  VkPushConstantRange pc{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushConstantBytes};
  VkPipelineLayoutCreateInfo pci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pci.setLayoutCount = 1;
  pci.pSetLayouts = &l.set_layout;
  pci.pushConstantRangeCount = 1;
  pci.pPushConstantRanges = &pc;
  vk_check(vkCreatePipelineLayout(ctx_.device(), &pci, nullptr, &l.layout), "vkCreatePipelineLayout");
  return layouts_.emplace(bindings, l).first->second;
}

const Kernel& KernelCache::get(const std::string& shader, uint32_t bindings, const std::vector<uint32_t>& spec) {
  std::string key = shader + "/" + std::to_string(bindings);
  for (uint32_t v : spec) key += "," + std::to_string(v);
  auto it = kernels_.find(key);
  if (it != kernels_.end()) return *it->second;

  const EmbeddedShader& src = find_shader(shader);
  const Layout& layout = layout_for(bindings);
  VkShaderModuleCreateInfo mci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mci.codeSize = src.bytes;
  mci.pCode = src.words;
  VkShaderModule module;
  vk_check(vkCreateShaderModule(ctx_.device(), &mci, nullptr, &module), ("shader module " + shader).c_str());

  std::vector<VkSpecializationMapEntry> entries(spec.size());
  for (uint32_t i = 0; i < spec.size(); i++) entries[i] = {i, i * 4, 4};
  VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), spec.size() * 4, spec.data()};

  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT;  // Sequence splits large grids with vkCmdDispatchBase
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = spec.empty() ? nullptr : &si;
  ci.layout = layout.layout;
  auto k = std::make_unique<Kernel>();
  VkResult r = vkCreateComputePipelines(ctx_.device(), cache_, 1, &ci, nullptr, &k->pipeline);
  vkDestroyShaderModule(ctx_.device(), module, nullptr);
  vk_check(r, ("compute pipeline " + key).c_str());
  k->name = key;
  k->bindings = bindings;
  k->layout = layout.layout;
  k->set_layout = layout.set_layout;
  built_++;
  return *kernels_.emplace(key, std::move(k)).first->second;
}

}  // namespace sdvk
