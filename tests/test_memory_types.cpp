// Memory type choice on the memory tables of GPUs this machine does not have (fabricated from
// what their drivers report), and the small pure helpers of device portability.
#include <gtest/gtest.h>

#include "core/error.h"
#include "vk/context.h"
#include "vk/memory_types.h"

using namespace sdvk;

namespace {

constexpr VkMemoryPropertyFlags L = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
constexpr VkMemoryPropertyFlags V = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
constexpr VkMemoryPropertyFlags C = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
constexpr VkDeviceSize MiB = 1ull << 20, GiB = 1ull << 30;

struct Table {
  std::vector<std::pair<VkDeviceSize, bool>> heaps;            // size, device-local
  std::vector<std::pair<VkMemoryPropertyFlags, uint32_t>> types;  // flags, heap
  VkPhysicalDeviceMemoryProperties props() const {
    VkPhysicalDeviceMemoryProperties m{};
    m.memoryHeapCount = uint32_t(heaps.size());
    for (size_t i = 0; i < heaps.size(); i++)
      m.memoryHeaps[i] = {heaps[i].first, heaps[i].second ? VkMemoryHeapFlags(VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) : 0u};
    m.memoryTypeCount = uint32_t(types.size());
    for (size_t i = 0; i < types.size(); i++) m.memoryTypes[i] = {types[i].first, types[i].second};
    return m;
  }
};

// NVIDIA discrete (RTX-class), no Resizable BAR: VRAM, system memory, the 256 MiB BAR window.
const Table kNvidia = {{{8 * GiB, true}, {16 * GiB, false}, {256 * MiB, true}},
                       {{0, 1}, {L, 0}, {V, 1}, {V | C, 1}, {L | V, 2}}};
// The same with Resizable BAR: the BAR window spans VRAM (same heap size as VRAM).
const Table kNvidiaRebar = {{{8 * GiB, true}, {16 * GiB, false}, {8 * GiB, true}},
                            {{0, 1}, {L, 0}, {V, 1}, {V | C, 1}, {L | V, 2}}};
// RADV discrete without Resizable BAR: VRAM, GTT, visible VRAM.
const Table kRadv = {{{8 * GiB - 256 * MiB, true}, {16 * GiB, false}, {256 * MiB, true}},
                     {{L, 0}, {V, 1}, {L | V, 2}, {V | C, 1}}};
// RADV with Resizable BAR: all VRAM visible, one device-local heap.
const Table kRadvRebar = {{{8 * GiB, true}, {16 * GiB, false}},
                          {{L, 0}, {V, 1}, {L | V, 0}, {V | C, 1}}};
// AMD APU (RADV): a 512 MiB carve-out and system memory the GPU reads through GTT.
const Table kAmdApu = {{{512 * MiB, true}, {15 * GiB, false}},
                       {{L, 0}, {V, 1}, {L | V, 0}, {V | C, 1}}};
// Intel iGPU (ANV): one device-local heap of system memory, all of it mappable.
const Table kIntel = {{{12 * GiB, true}}, {{L, 0}, {L | V, 0}, {L | V | C, 0}}};
// lavapipe: one type with every flag.
const Table kLavapipe = {{{2 * GiB, true}}, {{L | V | C, 0}}};

TEST(MemoryTypes, DiscreteWithoutResizableBarUsesVramAndStages) {
  for (const Table* t : {&kNvidia, &kRadv}) {
    auto m = t->props();
    MemoryTypeChoice c = choose_memory_types(m, false);
    EXPECT_EQ(m.memoryTypes[c.device[0]].propertyFlags, L);  // not the 256 MiB BAR type
    EXPECT_EQ(m.memoryHeaps[m.memoryTypes[c.device[0]].heapIndex].size >= 7 * GiB, true);
    EXPECT_FALSE(c.device_mappable[0]);
    // Staging in system memory, cached (downloads read it), not in the precious BAR heap.
    EXPECT_EQ(m.memoryTypes[c.staging].propertyFlags, V | C);
  }
}

TEST(MemoryTypes, ResizableBarMapsVram) {
  auto m = kRadvRebar.props();
  MemoryTypeChoice c = choose_memory_types(m, false);
  EXPECT_EQ(m.memoryTypes[c.device[0]].propertyFlags, L | V);
  EXPECT_TRUE(c.device_mappable[0]);
  // NVIDIA's BAR heap as large as VRAM: either VRAM type is right; a host-visible one is mapped.
  auto n = kNvidiaRebar.props();
  MemoryTypeChoice d = choose_memory_types(n, false);
  EXPECT_TRUE(n.memoryTypes[d.device[0]].propertyFlags & L);
  EXPECT_EQ(n.memoryHeaps[n.memoryTypes[d.device[0]].heapIndex].size, 8 * GiB);
  EXPECT_EQ(d.device_mappable[0], bool(n.memoryTypes[d.device[0]].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT));
}

TEST(MemoryTypes, ApuFallsBackToSystemMemory) {
  auto m = kAmdApu.props();
  MemoryTypeChoice c = choose_memory_types(m, false);
  EXPECT_EQ(m.memoryTypes[c.device[0]].heapIndex, 0u);  // the carve-out first, mapped
  EXPECT_TRUE(c.device_mappable[0]);
  ASSERT_GE(c.device.size(), 3u);  // then system memory when it is full
  EXPECT_EQ(m.memoryTypes[c.device.back()].heapIndex, 1u);
}

TEST(MemoryTypes, UnifiedMemoryMapsAndForcedStagingDoesNot) {
  for (const Table* t : {&kIntel, &kLavapipe}) {
    auto m = t->props();
    MemoryTypeChoice c = choose_memory_types(m, false);
    EXPECT_TRUE(m.memoryTypes[c.device[0]].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    EXPECT_TRUE(c.device_mappable[0]);
    MemoryTypeChoice f = choose_memory_types(m, true);
    for (bool mappable : f.device_mappable) EXPECT_FALSE(mappable);
  }
  // Forced staging on Intel prefers the plain device-local type.
  auto m = kIntel.props();
  EXPECT_EQ(m.memoryTypes[choose_memory_types(m, true).device[0]].propertyFlags, L);
}

TEST(MemoryTypes, NoDeviceLocalMemoryIsAClearError) {
  Table host_only = {{{4 * GiB, false}}, {{V, 0}}};
  auto m = host_only.props();
  EXPECT_THROW(choose_memory_types(m, false), Error);
}

TEST(Portability, Vulkan11DevicesAreRefusedWithAReason) {
  DeviceInfo d;
  d.name = "Old GPU";
  d.api_version = VK_API_VERSION_1_1;
  std::string why = device_unusable_reason(d);
  EXPECT_NE(why.find("Vulkan 1.2"), std::string::npos) << why;
  EXPECT_NE(why.find("Old GPU"), std::string::npos) << why;
  d.api_version = VK_API_VERSION_1_2;
  EXPECT_EQ(device_unusable_reason(d), "");
  d.queue_family = UINT32_MAX;
  EXPECT_NE(device_unusable_reason(d).find("compute"), std::string::npos);
}

TEST(Portability, TimestampDeltasUseOnlyTheValidBits) {
  // A 36-bit counter that wrapped between the stamps; the undefined high bits differ.
  const uint64_t begin = (0xABCull << 36) | ((1ull << 36) - 10), end = (0x123ull << 36) | 5;
  EXPECT_DOUBLE_EQ(timestamp_delta_ns(begin, end, 36, 2.0f), 15 * 2.0);
  EXPECT_DOUBLE_EQ(timestamp_delta_ns(100, 250, 64, 1.0f), 150.0);
}

}  // namespace
