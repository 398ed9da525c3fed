// `sdvk devices`: every Vulkan device with the capabilities that decide kernel choice.
#include <cstdio>
#include <string>

#include "gen/cli.h"
#include "vk/context.h"

namespace sdvk::cli {

int cmd_devices(Args& args) {
  bool validation = args.take_flag("--validation");
  args.expect_empty();
  Instance inst(validation);
  if (inst.devices().empty()) {
    std::printf("no Vulkan devices\n");
    return 1;
  }
  std::string chosen;
  try {
    chosen = inst.choose("").name;
  } catch (...) {
  }
  for (auto& d : inst.devices()) {
    std::printf("%u: %s%s\n", d.index, d.name.c_str(), d.name == chosen ? "   (default)" : "");
    std::printf("   type %s, vendor %s (0x%04x), driver %s, Vulkan %u.%u\n", device_class_name(d.device_class),
                d.vendor.c_str(), d.vendor_id, d.driver.c_str(), VK_API_VERSION_MAJOR(d.api_version),
                VK_API_VERSION_MINOR(d.api_version));
    std::printf("   memory %.2f GiB device-local, max buffer binding %.0f MiB, max allocation %.0f MiB, "
                "shared memory %u KiB\n",
                double(d.device_local_bytes) / double(1ull << 30), double(d.max_storage_buffer_range) / (1 << 20),
                double(d.max_allocation_bytes) / (1 << 20), d.max_shared_memory / 1024);
    if (std::string why = device_unusable_reason(d); !why.empty()) std::printf("   unusable: %s\n", why.c_str());
    std::printf("   fp16 storage %s, fp16 arithmetic %s, int8 %s, subgroup %u%s, cooperative matrix %s, timestamps %s\n",
                d.fp16_storage ? "yes" : "no", d.fp16_arithmetic ? "yes" : "no", d.int8_arithmetic ? "yes" : "no",
                d.subgroup_size, d.subgroup_arithmetic ? " (arithmetic)" : "", d.cooperative_matrix ? "yes" : "no",
                d.timestamps ? "yes" : "no");
  }
  return 0;
}

}  // namespace sdvk::cli
