#include "vk/context.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "vk/device_selector_error.h"
#include "vk/error.h"
#include "vk/kernel.h"
#include "vk/memory.h"
#include "vk/transfer.h"

namespace sdvk {
namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// A positive count with an optional K, M or G suffix (binary), for the limit overrides.
uint64_t env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  uint64_t scale = 1;
  if (*end == 'K' || *end == 'k') scale = 1ull << 10, end++;
  else if (*end == 'M' || *end == 'm') scale = 1ull << 20, end++;
  else if (*end == 'G' || *end == 'g') scale = 1ull << 30, end++;
  if (end == v || *end || n == 0)
    throw Error(std::string(name) + "=" + v + ": expected a positive number (optionally with K, M or G)");
  return uint64_t(n) * scale;
}

// Lowers `limit` to `wanted` (0 = keep), never raises it.
void lower_limit(uint64_t& limit, uint64_t wanted) {
  if (wanted) limit = std::min(limit, wanted);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const char* vendor_name(uint32_t id) {
  switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return "unknown";
  }
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

std::vector<std::string> device_extensions(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> ext(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data());
  std::vector<std::string> names;
  for (auto& e : ext) names.push_back(e.extensionName);
  return names;
}

DeviceInfo read_device(VkPhysicalDevice pd, uint32_t index) {
  DeviceInfo d;
  d.index = index;
  VkPhysicalDeviceProperties basic;
  vkGetPhysicalDeviceProperties(pd, &basic);
  d.api_version = basic.apiVersion;
  const bool vk12 = basic.apiVersion >= VK_API_VERSION_1_2;  // else: listed, never used
  std::vector<std::string> extensions = device_extensions(pd);
  auto has_extension = [&](const char* name) {
    return std::find(extensions.begin(), extensions.end(), name) != extensions.end();
  };

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceMaintenance3Properties maint3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceMaintenance4Properties maint4{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES};
  subgroup.pNext = &maint3;
  if (vk12) maint3.pNext = &driver;
  const bool has_maint4 = basic.apiVersion >= VK_API_VERSION_1_3 || has_extension("VK_KHR_maintenance4");
  if (vk12 && has_maint4) driver.pNext = &maint4;
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup};
  vkGetPhysicalDeviceProperties2(pd, &props);
  const auto& p = props.properties;
  d.name = p.deviceName;
  d.vendor_id = p.vendorID;
  d.device_id = p.deviceID;
  d.vendor = vendor_name(p.vendorID);
  d.driver = vk12 ? std::string(driver.driverName) + " " + driver.driverInfo : "(Vulkan 1.1 driver)";
  d.driver_version = p.driverVersion;
  switch (p.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: d.device_class = DeviceClass::DiscreteGpu; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: d.device_class = DeviceClass::IntegratedGpu; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: d.device_class = DeviceClass::VirtualGpu; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: d.device_class = DeviceClass::Cpu; break;
    default: d.device_class = DeviceClass::Other;
  }
  for (int i = 0; i < 3; i++) d.max_workgroup_count[i] = p.limits.maxComputeWorkGroupCount[i];
  d.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  d.max_shared_memory = p.limits.maxComputeSharedMemorySize;
  d.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  d.max_allocation_bytes = maint3.maxMemoryAllocationSize;
  if (vk12 && has_maint4) d.max_allocation_bytes = std::min<uint64_t>(d.max_allocation_bytes, maint4.maxBufferSize);
  d.min_storage_offset_alignment = uint32_t(p.limits.minStorageBufferOffsetAlignment);
  d.timestamp_period_ns = p.limits.timestampPeriod;
  std::memcpy(d.pipeline_cache_uuid, p.pipelineCacheUUID, VK_UUID_SIZE);
  d.subgroup_size = subgroup.subgroupSize;
  d.subgroup_arithmetic = (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                          (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);

  if (vk12) {
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16i8{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, &f11};
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f16i8};
    vkGetPhysicalDeviceFeatures2(pd, &features);
    d.fp16_storage = f11.storageBuffer16BitAccess;
    d.fp16_arithmetic = f16i8.shaderFloat16;
    d.int8_arithmetic = f16i8.shaderInt8;
  }
  d.cooperative_matrix = has_extension("VK_KHR_cooperative_matrix") || has_extension("VK_NV_cooperative_matrix");

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      d.device_local_bytes = std::max<uint64_t>(d.device_local_bytes, mem.memoryHeaps[i].size);

  // A compute-capable queue family; prefer a compute-only one (async compute on GPUs).
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> queues(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, queues.data());
  int best = -1;
  for (uint32_t i = 0; i < nq; i++) {
    if (!(queues[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (best < 0 || !(queues[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = int(i);
  }
  if (best >= 0) {
    d.queue_family = uint32_t(best);
    d.timestamps = queues[best].timestampValidBits > 0 && p.limits.timestampPeriod > 0;
    d.timestamp_valid_bits = queues[best].timestampValidBits;
  } else {
    d.queue_family = UINT32_MAX;  // unusable: no compute queue
  }
  return d;
}

int class_rank(DeviceClass c) {
  switch (c) {
    case DeviceClass::DiscreteGpu: return 0;
    case DeviceClass::IntegratedGpu: return 1;
    case DeviceClass::VirtualGpu: return 2;
    case DeviceClass::Cpu: return 3;
    default: return 4;
  }
}

}  // namespace

std::string device_unusable_reason(const DeviceInfo& d) {
  if (d.queue_family == UINT32_MAX) return d.name + " has no compute queue";
  if (d.api_version < VK_API_VERSION_1_2)
    return d.name + " supports Vulkan " + std::to_string(VK_API_VERSION_MAJOR(d.api_version)) + "." +
           std::to_string(VK_API_VERSION_MINOR(d.api_version)) + "; sdvk needs Vulkan 1.2 (update the driver)";
  return "";
}

double timestamp_delta_ns(uint64_t begin, uint64_t end, uint32_t valid_bits, float period_ns) {
  const uint64_t mask = valid_bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << valid_bits) - 1;
  return double((end - begin) & mask) * double(period_ns);
}

const char* device_class_name(DeviceClass c) {
  switch (c) {
    case DeviceClass::DiscreteGpu: return "discrete GPU";
    case DeviceClass::IntegratedGpu: return "integrated GPU";
    case DeviceClass::VirtualGpu: return "virtual GPU";
    case DeviceClass::Cpu: return "CPU";
    default: return "other";
  }
}

// ---------------------------------------------------------------------------------- Instance

VKAPI_ATTR VkBool32 VKAPI_CALL Instance::debug_callback(
    VkDebugUtilsMessageSeverityFlagBitsEXT, VkDebugUtilsMessageTypeFlagsEXT,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  auto* self = static_cast<Instance*>(user);
  std::string msg = data->pMessage ? data->pMessage : "(no message)";
  if (self->on_message_)
    self->on_message_(msg);
  else
    std::cerr << "vulkan validation: " << msg << "\n";
  return VK_FALSE;
}

Instance::Instance(bool validation, std::function<void(const std::string&)> on_message, bool sync_validation)
    : on_message_(std::move(on_message)) {
  sync_validation = sync_validation || env_flag("SDVK_SYNC_VALIDATION");
  validation = validation || sync_validation || env_flag("SDVK_VALIDATION");
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "sdvk";
  app.pEngineName = "sdvk";
  app.apiVersion = VK_API_VERSION_1_2;

  std::vector<const char*> layers, extensions;
  if (validation) {
    if (!has_layer("VK_LAYER_KHRONOS_validation"))
      throw Error("validation requested but VK_LAYER_KHRONOS_validation is not installed "
                  "(Debian package vulkan-validationlayers)");
    layers.push_back("VK_LAYER_KHRONOS_validation");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (sync_validation) extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
  }
  VkDebugUtilsMessengerCreateInfoEXT dbg{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  dbg.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  dbg.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  dbg.pfnUserCallback = debug_callback;
  dbg.pUserData = this;

  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = uint32_t(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = uint32_t(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  // Synchronization validation: hazards between dispatches, copies and the host (missing
  // barriers that lavapipe forgives and GPUs do not).
  VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT, &dbg};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = &sync;
  if (validation) ci.pNext = sync_validation ? static_cast<const void*>(&features) : &dbg;
  VkResult r = vkCreateInstance(&ci, nullptr, &instance_);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
    throw Error(std::string("no Vulkan driver found (") + vk_result_name(r) +
                "): install a GPU driver, or mesa-vulkan-drivers for the CPU device");
  vk_check(r, "vkCreateInstance");

  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create) vk_check(create(instance_, &dbg, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
  }

  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance_, &n, nullptr);
  physical_.resize(n);
  vkEnumeratePhysicalDevices(instance_, &n, physical_.data());
  for (uint32_t i = 0; i < n; i++) devices_.push_back(read_device(physical_[i], i));
}

Instance::~Instance() {
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

const DeviceInfo& Instance::choose(const std::string& selector_in) const {
  std::string selector = selector_in;
  if (selector.empty())
    if (const char* env = std::getenv("SDVK_DEVICE")) selector = env;
  std::vector<const DeviceInfo*> usable;
  std::string reasons;
  for (auto& d : devices_) {
    std::string why = device_unusable_reason(d);
    if (why.empty()) usable.push_back(&d);
    else reasons += "; " + why;
  }
  if (usable.empty())
    throw Error("no usable Vulkan device found" + reasons +
                ": install a GPU driver, or mesa-vulkan-drivers for the CPU device (lavapipe)");
  if (selector.empty()) {
    return **std::min_element(usable.begin(), usable.end(), [](auto* a, auto* b) {
      return class_rank(a->device_class) < class_rank(b->device_class);
    });
  }
  bool numeric = std::all_of(selector.begin(), selector.end(), ::isdigit);
  for (auto* d : usable) {
    if (numeric ? d->index == uint32_t(std::stoul(selector))
                : lower(d->name).find(lower(selector)) != std::string::npos)
      return *d;
  }
  for (auto& d : devices_)  // named, but unusable: say why
    if (numeric ? d.index == uint32_t(std::stoul(selector)) : lower(d.name).find(lower(selector)) != std::string::npos)
      throw DeviceSelectorError(selector, device_unusable_reason(d));
  std::string names;
  for (auto* d : usable) names += (names.empty() ? "" : ", ") + std::to_string(d->index) + ": " + d->name;
  throw DeviceSelectorError(selector, "no such device (available: " + names + ")");
}

// ----------------------------------------------------------------------------------- Context

Context::Context(const ContextOptions& options) {
  // Environment overrides first: a bad value throws before any Vulkan object exists.
  KernelFamily family = options.kernels;
  if (family == KernelFamily::Auto)
    if (const char* k = std::getenv("SDVK_KERNELS")) {
      if (lower(k) == "cpu") family = KernelFamily::Cpu;
      else if (lower(k) == "gpu") family = KernelFamily::Gpu;
      else if (*k) throw Error(std::string("SDVK_KERNELS=") + k + ": expected cpu or gpu");
    }
  if (const char* c = std::getenv("SDVK_CONV")) {
    if (lower(c) == "direct") conv_algorithm_ = ConvAlgorithm::Direct;
    else if (lower(c) == "winograd") conv_algorithm_ = ConvAlgorithm::Winograd;
    else if (lower(c) == "gemm") conv_algorithm_ = ConvAlgorithm::Gemm;
    else if (*c) throw Error(std::string("SDVK_CONV=") + c + ": expected direct, winograd or gemm");
  }
  const uint64_t env_range = env_count("SDVK_MAX_STORAGE_BUFFER_RANGE");
  const uint64_t env_allocation = env_count("SDVK_MAX_ALLOCATION_SIZE");
  const uint64_t env_groups = env_count("SDVK_MAX_DISPATCH_GROUPS");
  instance_ = std::make_unique<Instance>(options.validation, options.on_validation_message, options.sync_validation);
  info_ = instance_->choose(options.device);
  physical_ = instance_->physical(info_.index);
  lower_limit(info_.max_storage_buffer_range, options.max_storage_buffer_range);
  lower_limit(info_.max_storage_buffer_range, env_range);
  lower_limit(info_.max_allocation_bytes, options.max_allocation_bytes);
  lower_limit(info_.max_allocation_bytes, env_allocation);
  force_staging_ = options.force_staging || env_flag("SDVK_FORCE_STAGING");

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = info_.queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;

  // Enable only what the engine uses and the device has.
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.storageBuffer16BitAccess = info_.fp16_storage;
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &f11};
  f12.shaderFloat16 = info_.fp16_arithmetic;
  f12.shaderInt8 = info_.int8_arithmetic;
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f12};
  VkPhysicalDeviceFeatures supported;
  vkGetPhysicalDeviceFeatures(physical_, &supported);
  features.features.shaderInt64 = supported.shaderInt64;

  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &features};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  vk_check(vkCreateDevice(physical_, &dci, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, info_.queue_family, 0, &queue_);

  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = info_.queue_family;
  vk_check(vkCreateCommandPool(device_, &pci, nullptr, &command_pool_), "vkCreateCommandPool");

  for (int i = 0; i < 3; i++) dispatch_limit_[i] = info_.max_workgroup_count[i];
  if (env_groups) set_dispatch_limit(uint32_t(std::min<uint64_t>(env_groups, UINT32_MAX)));
  set_kernel_family(family);
  allocator_ = std::make_unique<Allocator>(*this);
  kernels_ = std::make_unique<KernelCache>(*this, options.pipeline_cache && !env_flag("SDVK_NO_PIPELINE_CACHE"));
  transfers_ = std::make_unique<Transfers>(*this);
}

Context::~Context() {
  if (device_) vkDeviceWaitIdle(device_);
  transfers_.reset();
  kernels_.reset();
  allocator_.reset();
  if (command_pool_) vkDestroyCommandPool(device_, command_pool_, nullptr);
  if (device_) vkDestroyDevice(device_, nullptr);
}

void Context::set_dispatch_limit(uint32_t limit) {
  for (int i = 0; i < 3; i++) dispatch_limit_[i] = std::min(limit, info_.max_workgroup_count[i]);
}

void Context::set_kernel_family(KernelFamily f) {
  cpu_kernels_ = f == KernelFamily::Cpu || (f == KernelFamily::Auto && info_.is_cpu());
}

void Context::flush_transfers() noexcept {
  if (!transfers_) return;  // being destroyed: its copies are dropped
  try {
    transfers_->flush();
  } catch (const Error& e) {
    std::cerr << "warning: staged copies failed: " << e.what() << "\n";
  }
}

void Context::submit_and_wait(VkCommandBuffer cb, VkFence fence) {
  std::vector<VkCommandBuffer> cbs;
  if (VkCommandBuffer staged = transfers_->take_pending()) cbs.push_back(staged);
  if (cb) cbs.push_back(cb);
  if (cbs.empty()) return;
  vk_check(vkResetFences(device_, 1, &fence), "vkResetFences");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = uint32_t(cbs.size());
  si.pCommandBuffers = cbs.data();
  VkResult r = vkQueueSubmit(queue_, 1, &si, fence);
  submissions_++;
  if (r == VK_SUCCESS) r = vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX);
  transfers_->completed();
  vk_check(r, "queue submit");
}

}  // namespace sdvk
