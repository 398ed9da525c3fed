// Context: the Vulkan instance, the chosen device and its capabilities, one compute queue,
// the memory allocator and the pipeline cache. Created once per process; every Tensor, Kernel
// and Sequence must be destroyed before it.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <vulkan/vulkan.h>

namespace sdvk {

class Allocator;
class KernelCache;
class Transfers;

enum class DeviceClass { DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu, Other };

// What the engine needs to know about a physical device, read once at start-up.
struct DeviceInfo {
  uint32_t index = 0;  // position in vkEnumeratePhysicalDevices
  std::string name, vendor, driver;
  DeviceClass device_class = DeviceClass::Other;
  uint32_t vendor_id = 0, device_id = 0, driver_version = 0, api_version = 0;
  uint64_t device_local_bytes = 0;  // largest device-local heap
  bool fp16_storage = false;        // storageBuffer16BitAccess
  bool fp16_arithmetic = false;     // shaderFloat16
  bool int8_arithmetic = false;     // shaderInt8
  bool cooperative_matrix = false;  // VK_KHR_cooperative_matrix (or the NV one)
  uint32_t subgroup_size = 0;
  bool subgroup_arithmetic = false;
  bool timestamps = false;  // compute queue supports timestamp queries
  uint32_t timestamp_valid_bits = 64;  // of the compute queue; the rest of a stamp is garbage
  float timestamp_period_ns = 1.0f;
  uint32_t max_workgroup_count[3] = {0, 0, 0};
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_shared_memory = 0;
  uint64_t max_storage_buffer_range = 0;  // largest binding (lowered by SDVK_MAX_STORAGE_BUFFER_RANGE)
  // Largest single VkDeviceMemory / VkBuffer (Maintenance3 / Maintenance4; the smaller of the
  // two, lowered by SDVK_MAX_ALLOCATION_SIZE). Blocks and arena pieces never exceed it.
  uint64_t max_allocation_bytes = 0;
  uint32_t min_storage_offset_alignment = 16;
  uint32_t queue_family = 0;
  uint8_t pipeline_cache_uuid[VK_UUID_SIZE] = {};

  bool is_cpu() const { return device_class == DeviceClass::Cpu; }
};

const char* device_class_name(DeviceClass c);

// Why the engine cannot run on `d` ("" when it can): no compute queue, or Vulkan below 1.2
// (the engine chains Vulkan 1.2 structures at device creation).
std::string device_unusable_reason(const DeviceInfo& d);

// Nanoseconds between two timestamps of a queue with `valid_bits` meaningful bits (the counter
// wraps there; the bits above are undefined).
double timestamp_delta_ns(uint64_t begin, uint64_t end, uint32_t valid_bits, float period_ns);

// Which family of kernel variants the ops choose (see DESIGN: variants by device class).
// Auto picks from the device type; tests force each family to check every variant.
enum class KernelFamily { Auto, Cpu, Gpu };

// How convolutions other than 1x1 stride-1 unpadded ones run: Auto picks per shape
// (ops/conv2d.h); Winograd forces it for every 3x3 stride-1 conv and the direct kernel for the
// rest; Gemm forces the patch-gather GEMM wherever its buffer fits, else the direct kernel.
// Tests force each to check all against the same reference.
enum class ConvAlgorithm { Auto, Direct, Winograd, Gemm };

struct ContextOptions {
  // "" = automatic (first discrete GPU, else integrated, else virtual, else CPU); a number
  // picks by index; anything else picks the first device whose name contains it
  // (case-insensitive). Empty falls back to the SDVK_DEVICE environment variable.
  std::string device;
  // Enable VK_LAYER_KHRONOS_validation and report every message to on_validation_message
  // (or stderr). Also switched on by SDVK_VALIDATION=1.
  bool validation = false;
  std::function<void(const std::string&)> on_validation_message;
  // Use the on-disk pipeline cache (off with SDVK_NO_PIPELINE_CACHE=1).
  bool pipeline_cache = true;
  // Kernel variants: Auto, or forced (also SDVK_KERNELS=cpu|gpu).
  KernelFamily kernels = KernelFamily::Auto;
  // Also switch on the validation layer's synchronization validation (SDVK_SYNC_VALIDATION=1).
  bool sync_validation = false;
  // Treat device memory as unmappable, so every transfer goes through staging as on a discrete
  // GPU without Resizable BAR (also SDVK_FORCE_STAGING=1).
  bool force_staging = false;
  // Lower (never raise) the device's limits, to test tiling and block splitting on small
  // problems; 0 keeps the device's value (also SDVK_MAX_STORAGE_BUFFER_RANGE /
  // SDVK_MAX_ALLOCATION_SIZE, in bytes with an optional K, M or G suffix).
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_allocation_bytes = 0;
};

// Vulkan instance + the enumerated devices, without creating a logical device: `devices`.
class Instance {
 public:
  explicit Instance(bool validation, std::function<void(const std::string&)> on_message = {},
                    bool sync_validation = false);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  const std::vector<DeviceInfo>& devices() const { return devices_; }
  VkPhysicalDevice physical(uint32_t index) const { return physical_[index]; }
  // The device `selector` names (see ContextOptions::device); throws Error when none matches.
  const DeviceInfo& choose(const std::string& selector) const;

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  std::function<void(const std::string&)> on_message_;
  std::vector<VkPhysicalDevice> physical_;
  std::vector<DeviceInfo> devices_;
  static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                       VkDebugUtilsMessageTypeFlagsEXT,
                                                       const VkDebugUtilsMessengerCallbackDataEXT*,
                                                       void*);
};

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const { return info_; }
  VkDevice device() const { return device_; }
  VkPhysicalDevice physical_device() const { return physical_; }
  VkQueue queue() const { return queue_; }
  VkCommandPool command_pool() const { return command_pool_; }
  Allocator& allocator() { return *allocator_; }
  KernelCache& kernels() { return *kernels_; }
  // Staged host<->device copies, batched into the next submission (see vk/transfer.h).
  Transfers& transfers() { return *transfers_; }
  bool force_staging() const { return force_staging_; }

  // Largest group count per dispatch dimension that Sequence uses before splitting a dispatch;
  // the device limit, lowered by tests to exercise splitting on small problems.
  uint32_t dispatch_limit(int dim) const { return dispatch_limit_[dim]; }
  void set_dispatch_limit(uint32_t limit);

  // True when ops should pick their CPU-shaped variants (register-blocked, no shared memory).
  bool cpu_kernels() const { return cpu_kernels_; }
  void set_kernel_family(KernelFamily f);

  // Also SDVK_CONV=direct|winograd|gemm.
  ConvAlgorithm conv_algorithm() const { return conv_algorithm_; }
  void set_conv_algorithm(ConvAlgorithm a) { conv_algorithm_ = a; }

  // The one way work reaches the queue: submits the pending staged copies (if any) and `cb`
  // (may be null) in ONE vkQueueSubmit, then waits for `fence`. Counted by submissions().
  void submit_and_wait(VkCommandBuffer cb, VkFence fence);
  uint64_t submissions() const { return submissions_; }
  // Submits pending staged copies now, e.g. before the memory they target is freed; never throws.
  void flush_transfers() noexcept;

 private:
  std::unique_ptr<Instance> instance_;
  DeviceInfo info_;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<KernelCache> kernels_;
  std::unique_ptr<Transfers> transfers_;
  uint32_t dispatch_limit_[3] = {65535, 65535, 65535};
  bool cpu_kernels_ = false;
  ConvAlgorithm conv_algorithm_ = ConvAlgorithm::Auto;
  bool force_staging_ = false;
  uint64_t submissions_ = 0;
};

}  // namespace sdvk
