// Sequence: a list of dispatches, recorded into one command buffer when first run and
// replayable. Each dispatch names the tensors it reads and writes; from that the Sequence
//  - places its planned temporaries (temp()) in one arena by liveness: temporaries never alive
//    at the same time share bytes, so the arena is the peak of live bytes, not their sum;
//  - inserts a barrier exactly where a dispatch touches bytes an earlier unbarriered dispatch
//    wrote (or writes bytes one read), which also orders the reuse of arena bytes;
//  - splits grids larger than the device's group-count limits, and refuses bindings larger
//    than maxStorageBufferRange (naming the tensor);
//  - spreads the arena over pieces no larger than the device's largest allocation;
//  - carries host inputs and outputs inside its one submission (input()/output());
//  - can time every dispatch with timestamp queries.
//
// Shader contract: index work with gl_GlobalInvocationID / gl_WorkGroupID (they include the
// split's base group), never gl_NumWorkGroups, and bounds-check against sizes passed in.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>
#include <vulkan/vulkan.h>

#include "vk/kernel.h"
#include "vk/tensor.h"

namespace sdvk {

class Context;

enum class Access { Read, Write, ReadWrite };
struct Arg {
  Tensor tensor;
  Access access;
};
inline Arg in(const Tensor& t) { return {t, Access::Read}; }
inline Arg out(const Tensor& t) { return {t, Access::Write}; }
inline Arg inout(const Tensor& t) { return {t, Access::ReadWrite}; }

using Groups = std::array<uint32_t, 3>;

// ceil(n / d) as a group count, with an Error when it does not fit 32 bits.
uint32_t groups_for(int64_t n, int64_t per_group);

struct ProfileEntry {
  std::string label;   // what the op wrapper called it
  std::string kernel;  // shader and spec constants
  double ms = 0;       // summed over all runs since the last reset
  uint32_t runs = 0;
};

class Sequence {
 public:
  explicit Sequence(Context& ctx, bool profile = false);
  ~Sequence();
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // A temporary whose bytes the sequence places when first run. It lives from the first to the
  // last dispatch that uses it; keep() extends that to the end, so it can be downloaded after
  // run(). Other temporaries' bytes are only meaningful inside the sequence.
  Tensor temp(const Shape& shape, DType dtype, const std::string& name);
  void keep(const Tensor& t);

  // Records one dispatch. `push` is copied into the push-constant range (at most 128 bytes).
  template <class Push>
  void dispatch(const Kernel& k, const std::vector<Arg>& args, const Push& push, Groups groups,
                const std::string& label) {
    static_assert(sizeof(Push) <= kPushConstantBytes, "push constants over 128 bytes");
    dispatch_raw(k, args, &push, sizeof(Push), groups, label);
  }
  void dispatch_raw(const Kernel& k, const std::vector<Arg>& args, const void* push, size_t push_bytes,
                    Groups groups, const std::string& label);

  // Host inputs and outputs that travel inside run()'s one submission, so a replay is one
  // submit and one wait on every device. Declare them before the first run(). write_input()
  // before run() sets `t`'s next values: straight into mapped memory, or into a persistent
  // staging buffer that the command buffer copies from first. read_output() after run() reads
  // `t`: from mapped memory, or from a staging buffer the command buffer copied it into last.
  // An output may be a temporary (it is kept).
  void input(const Tensor& t);
  void output(const Tensor& t);
  void write_input(const Tensor& t, const std::vector<float>& values);
  std::vector<float> read_output(const Tensor& t) const;

  // First call: places temporaries, records the command buffer. Then submits (with any pending
  // staged uploads, see vk/transfer.h) and waits. Call again to replay with the inputs' current
  // bytes.
  void run();

  Context& context() const { return ctx_; }
  size_t dispatch_count() const { return records_.size(); }
  size_t barrier_count() const { return barriers_; }  // known after the first run()
  uint64_t arena_bytes() const { return arena_bytes_; }           // planned peak of temporaries
  size_t arena_pieces() const { return arenas_.size(); }          // allocations holding them
  uint64_t temp_bytes_unshared() const { return temp_bytes_; }    // what they would take unshared
  bool profiling() const { return profile_; }
  // Arithmetic work recorded, as op wrappers count it (direct-algorithm FLOPs of convolutions,
  // matmuls and attention): what benchmarks divide by time.
  void add_flops(double flops) { flops_ += flops; }
  double flops() const { return flops_; }
  // Per-dispatch GPU times of all runs so far, in recording order.
  std::vector<ProfileEntry> profile() const;

 private:
  struct Record {
    const Kernel* kernel;
    std::vector<Arg> args;  // also keeps every tensor's bytes alive as long as the sequence
    std::array<uint8_t, kPushConstantBytes> push;
    Groups groups;
    std::string label;
  };
  struct HostLink {
    Tensor tensor;
    std::shared_ptr<Allocation> staging;  // null while unplaced, and when `tensor` is mapped
  };
  const HostLink& link(const std::vector<HostLink>& links, const Tensor& t, const char* what) const;
  void stage_links(std::vector<HostLink>& links);
  struct Range {
    VkBuffer buffer;
    uint64_t begin, end;
  };
  static bool overlaps(const std::vector<Range>& set, const Range& r);
  void place_temporaries();
  void record_commands();
  void record(const Record& r);
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);
  void write_timestamp(VkPipelineStageFlagBits stage);

  Context& ctx_;
  bool profile_;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  bool recorded_ = false;
  std::vector<Record> records_;
  std::vector<std::shared_ptr<TensorStorage>> temps_, kept_;
  std::vector<std::shared_ptr<Allocation>> arenas_;
  std::vector<HostLink> inputs_, outputs_;
  uint64_t arena_bytes_ = 0, temp_bytes_ = 0;
  double flops_ = 0;
  std::vector<VkDescriptorPool> pools_;
  std::vector<Range> pending_writes_, pending_reads_;
  size_t barriers_ = 0;
  // Timestamps: query 0 is the start, query i+1 follows dispatch i. Pools of kQueriesPerPool.
  static constexpr uint32_t kQueriesPerPool = 1024;
  std::vector<VkQueryPool> query_pools_;
  uint32_t queries_ = 0;
  std::vector<double> ms_;
  uint32_t runs_ = 0;
};

}  // namespace sdvk
