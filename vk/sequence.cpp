#include "vk/sequence.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "vk/commands.h"
#include "vk/context.h"
#include "vk/error.h"

namespace sdvk {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kBuffersPerSet = 8;  // average; a pool serves any mix up to its totals
}  // namespace

uint32_t groups_for(int64_t n, int64_t per_group) {
  int64_t g = (n + per_group - 1) / per_group;
  if (g > int64_t(UINT32_MAX)) throw Error("dispatch of " + std::to_string(n) + " items is too large");
  return uint32_t(std::max<int64_t>(g, 0));
}

Sequence::Sequence(Context& ctx, bool profile) : ctx_(ctx), profile_(profile && ctx.info().timestamps) {
  allocate_commands(ctx, &cb_, &fence_);
}

Sequence::~Sequence() {
  VkDevice dev = ctx_.device();
  vkFreeCommandBuffers(dev, ctx_.command_pool(), 1, &cb_);
  vkDestroyFence(dev, fence_, nullptr);
  for (auto p : pools_) vkDestroyDescriptorPool(dev, p, nullptr);
  for (auto q : query_pools_) vkDestroyQueryPool(dev, q, nullptr);
}

void Sequence::write_timestamp(VkPipelineStageFlagBits stage) {
  if (queries_ % kQueriesPerPool == 0) {
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = kQueriesPerPool;
    VkQueryPool pool;
    vk_check(vkCreateQueryPool(ctx_.device(), &qi, nullptr, &pool), "vkCreateQueryPool");
    query_pools_.push_back(pool);
    vkCmdResetQueryPool(cb_, pool, 0, kQueriesPerPool);
  }
  vkCmdWriteTimestamp(cb_, stage, query_pools_.back(), queries_ % kQueriesPerPool);
  queries_++;
}

VkDescriptorSet Sequence::allocate_set(VkDescriptorSetLayout layout) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!pools_.empty()) {
      VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
      ai.descriptorPool = pools_.back();
      ai.descriptorSetCount = 1;
      ai.pSetLayouts = &layout;
      VkDescriptorSet set;
      VkResult r = vkAllocateDescriptorSets(ctx_.device(), &ai, &set);
      if (r == VK_SUCCESS) return set;
      if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
        vk_check(r, "vkAllocateDescriptorSets");
    }
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBuffersPerSet};
    VkDescriptorPoolCreateInfo pci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pci.maxSets = kSetsPerPool;
    pci.poolSizeCount = 1;
    pci.pPoolSizes = &size;
    VkDescriptorPool pool;
    vk_check(vkCreateDescriptorPool(ctx_.device(), &pci, nullptr, &pool), "vkCreateDescriptorPool");
    pools_.push_back(pool);
  }
  throw Error("descriptor set allocation failed");
}

bool Sequence::overlaps(const std::vector<Range>& set, const Range& r) {
  for (auto& s : set)
    if (s.buffer == r.buffer && s.begin < r.end && r.begin < s.end) return true;
  return false;
}

Tensor Sequence::temp(const Shape& shape, DType dtype, const std::string& name) {
  if (recorded_) throw Error("Sequence: temporary " + name + " created after run()");
  Tensor t = Tensor::planned(shape, dtype, name, this);
  temps_.push_back(t.storage());
  return t;
}

void Sequence::keep(const Tensor& t) {
  if (t.storage() && !t.placed()) kept_.push_back(t.storage());
}

void Sequence::input(const Tensor& t) {
  if (recorded_) throw Error("Sequence: input " + t.name() + " declared after run()");
  if (!t.placed()) throw Error("Sequence: input " + t.name() + " must be a placed tensor, not a temporary");
  inputs_.push_back({t, nullptr});
  stage_links(inputs_);
}

void Sequence::output(const Tensor& t) {
  if (recorded_) throw Error("Sequence: output " + t.name() + " declared after run()");
  keep(t);
  outputs_.push_back({t, nullptr});
}

// Staging buffers for the links whose tensors are placed but not mapped.
void Sequence::stage_links(std::vector<HostLink>& links) {
  for (auto& l : links)
    if (!l.staging && l.tensor.placed() && !l.tensor.storage()->alloc->mapped())
      l.staging = ctx_.allocator().allocate(l.tensor.bytes(), MemoryKind::Staging, "staging for " + l.tensor.name());
}

const Sequence::HostLink& Sequence::link(const std::vector<HostLink>& links, const Tensor& t, const char* what) const {
  for (auto& l : links)
    if (l.tensor.storage() == t.storage() && l.tensor.offset_in_storage() == t.offset_in_storage() &&
        l.tensor.bytes() == t.bytes())
      return l;
  throw Error(std::string("Sequence: ") + t.name() + " is not a declared " + what);
}

void Sequence::write_input(const Tensor& t, const std::vector<float>& values) {
  const HostLink& l = link(inputs_, t, "input");
  if (!l.staging) return t.upload(ctx_, values);  // mapped: a plain memcpy
  if (int64_t(values.size()) != t.numel())
    throw Error("upload of " + std::to_string(values.size()) + " values into tensor " + shape_str(t.shape()));
  floats_to_dtype(values, t.dtype(), l.staging->mapped());
}

std::vector<float> Sequence::read_output(const Tensor& t) const {
  const HostLink& l = link(outputs_, t, "output");
  if (!recorded_) throw Error("Sequence: output " + t.name() + " read before run()");
  if (!l.staging) return t.download(ctx_);  // mapped: a plain memcpy
  return dtype_to_floats(l.staging->mapped(), size_t(t.numel()), t.dtype());
}

void Sequence::dispatch_raw(const Kernel& k, const std::vector<Arg>& args, const void* push, size_t push_bytes,
                            Groups groups, const std::string& label) {
  if (recorded_) throw Error("Sequence: dispatch " + label + " recorded after run()");
  if (args.size() != k.bindings)
    throw Error(label + ": kernel " + k.name + " takes " + std::to_string(k.bindings) + " buffers, got " +
                std::to_string(args.size()));
  const uint64_t range = ctx_.info().max_storage_buffer_range;
  for (auto& a : args) {
    if (!a.tensor.defined()) throw Error(label + ": undefined tensor argument");
    if (a.tensor.bytes() > range)
      throw Error(label + ": tensor " + a.tensor.name() + " " + shape_str(a.tensor.shape()) + " " +
                  dtype_name(a.tensor.dtype()) + " needs " + std::to_string(a.tensor.bytes()) +
                  " bytes in one binding, more than this device's maxStorageBufferRange (" + std::to_string(range) +
                  "); use a smaller size or tiling");
    const void* planner = a.tensor.storage()->planner;
    if (!a.tensor.placed() && planner != this)
      throw Error(label + ": tensor " + a.tensor.name() + " is a temporary of another sequence");
  }
  if (groups[0] == 0 || groups[1] == 0 || groups[2] == 0) return;  // nothing to do
  Record r{&k, args, {}, groups, label};
  std::memcpy(r.push.data(), push, std::min<size_t>(push_bytes, kPushConstantBytes));
  records_.push_back(std::move(r));
}

// Greedy placement by size: each temporary, largest first, goes to the lowest offset where
// it overlaps no already placed temporary whose lifetime [first, last] intersects its own and
// does not straddle a piece boundary (pieces are the device's largest allocation).
void Sequence::place_temporaries() {
  struct Life {
    TensorStorage* storage;
    size_t first = SIZE_MAX, last = 0;
    uint64_t offset = 0, size = 0;
  };
  std::vector<Life> lives;
  std::map<const TensorStorage*, size_t> index;
  for (auto& t : temps_) {
    index[t.get()] = lives.size();
    lives.push_back({t.get(), SIZE_MAX, 0, 0, (t->bytes + 255) / 256 * 256});
  }
  for (size_t i = 0; i < records_.size(); i++)
    for (auto& a : records_[i].args) {
      auto it = index.find(a.tensor.storage().get());
      if (it == index.end()) continue;
      Life& l = lives[it->second];
      l.first = std::min(l.first, i);
      l.last = std::max(l.last, i);
    }
  for (auto& k : kept_)
    if (auto it = index.find(k.get()); it != index.end()) lives[it->second].last = SIZE_MAX;

  std::vector<Life*> order;
  for (auto& l : lives)
    if (l.first != SIZE_MAX) order.push_back(&l);  // unused temporaries take no memory
  std::stable_sort(order.begin(), order.end(), [](Life* a, Life* b) { return a->size > b->size; });
  const uint64_t piece = ctx_.allocator().max_allocation_bytes();
  std::vector<Life*> placed;
  uint64_t end = 0;
  for (Life* l : order) {
    if (l->size > piece)
      throw Error("temporary " + l->storage->name + " needs " + std::to_string(l->size) +
                  " bytes, more than this device allocates at once (" + std::to_string(piece) +
                  "); use a smaller size or tiling");
    std::vector<std::pair<uint64_t, uint64_t>> busy;  // byte ranges of live neighbours
    for (Life* p : placed)
      if (p->first <= l->last && l->first <= p->last) busy.push_back({p->offset, p->offset + p->size});
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (;;) {
      for (auto& [b, e] : busy) {
        if (e <= offset) continue;
        if (offset + l->size <= b) break;
        offset = std::max(offset, e);
      }
      const uint64_t piece_end = (offset / piece + 1) * piece;
      if (offset + l->size <= piece_end) break;
      offset = piece_end;  // would straddle two pieces: try the next one
    }
    l->offset = offset;
    end = std::max(end, offset + l->size);
    temp_bytes_ += l->size;
    placed.push_back(l);
  }
  // One allocation per piece, as large as its highest placed byte.
  std::vector<uint64_t> piece_bytes(size_t((end + piece - 1) / piece), 0);
  for (Life* l : placed) {
    uint64_t& b = piece_bytes[size_t(l->offset / piece)];
    b = std::max(b, l->offset % piece + l->size);
  }
  for (size_t k = 0; k < piece_bytes.size(); k++) {
    arenas_.push_back(piece_bytes[k] ? ctx_.allocator().allocate(piece_bytes[k], MemoryKind::Device, "activation arena")
                                     : nullptr);
    arena_bytes_ += piece_bytes[k];
  }
  for (Life* l : placed) {
    l->storage->alloc = arenas_[size_t(l->offset / piece)];
    l->storage->offset = l->offset % piece;
  }
}

namespace {
// vkCmdDispatch where the base is zero: the validation layer's synchronization checks (as of
// 1.3.239) see vkCmdDispatch but not vkCmdDispatchBase.
void dispatch_base(VkCommandBuffer cb, Groups base, Groups count) {
  if (base[0] == 0 && base[1] == 0 && base[2] == 0)
    vkCmdDispatch(cb, count[0], count[1], count[2]);
  else
    vkCmdDispatchBase(cb, base[0], base[1], base[2], count[0], count[1], count[2]);
}
}  // namespace

void Sequence::record(const Record& rec) {
  // Barrier when this dispatch reads what is being written, or writes what is being read or
  // written, by dispatches since the last barrier.
  std::vector<Range> reads, writes;
  for (auto& a : rec.args) {
    Range r{a.tensor.buffer(), a.tensor.offset(), a.tensor.offset() + a.tensor.bytes()};
    if (a.access != Access::Write) reads.push_back(r);
    if (a.access != Access::Read) writes.push_back(r);
  }
  bool hazard = false;
  for (auto& r : reads) hazard = hazard || overlaps(pending_writes_, r);
  for (auto& w : writes) hazard = hazard || overlaps(pending_writes_, w) || overlaps(pending_reads_, w);
  // Profiling serialises every dispatch, so each timestamp delta is one dispatch's time (on a GPU
  // unbarriered dispatches overlap).
  if (hazard || (profile_ && !records_.empty() && &rec != &records_.front())) {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb,
                         0, nullptr, 0, nullptr);
    pending_reads_.clear();
    pending_writes_.clear();
    if (hazard) barriers_++;
  }
  pending_reads_.insert(pending_reads_.end(), reads.begin(), reads.end());
  pending_writes_.insert(pending_writes_.end(), writes.begin(), writes.end());

  const Kernel& k = *rec.kernel;
  VkDescriptorSet set = allocate_set(k.set_layout);
  std::vector<VkDescriptorBufferInfo> infos(rec.args.size());
  std::vector<VkWriteDescriptorSet> ws(rec.args.size());
  for (size_t i = 0; i < rec.args.size(); i++) {
    const Tensor& t = rec.args[i].tensor;
    infos[i] = {t.buffer(), t.offset(), std::max<uint64_t>(t.bytes(), 4)};
    ws[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    ws[i].dstSet = set;
    ws[i].dstBinding = uint32_t(i);
    ws[i].descriptorCount = 1;
    ws[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    ws[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx_.device(), uint32_t(ws.size()), ws.data(), 0, nullptr);
  vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline);
  vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout, 0, 1, &set, 0, nullptr);
  vkCmdPushConstants(cb_, k.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushConstantBytes, rec.push.data());

  // Split grids beyond the group-count limit into pieces with a base group offset.
  const Groups& g = rec.groups;
  uint32_t lim[3] = {ctx_.dispatch_limit(0), ctx_.dispatch_limit(1), ctx_.dispatch_limit(2)};
  for (uint32_t z = 0; z < g[2]; z += lim[2])
    for (uint32_t y = 0; y < g[1]; y += lim[1])
      for (uint32_t x = 0; x < g[0]; x += lim[0])
        dispatch_base(cb_, {x, y, z}, {std::min(lim[0], g[0] - x), std::min(lim[1], g[1] - y), std::min(lim[2], g[2] - z)});
  if (profile_) write_timestamp(VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT);
}

void Sequence::record_commands() {
  place_temporaries();
  stage_links(outputs_);
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vk_check(vkBeginCommandBuffer(cb_, &bi), "vkBeginCommandBuffer");
  if (profile_) write_timestamp(VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT);
  // The previous run (or other submissions) may still read or write these bytes: the arena is
  // reused and the inputs rewritten.
  barrier(cb_, kDeviceStages, kDeviceWrites, kDeviceStages, kDeviceAccess);
  bool staged_in = false;
  for (auto& l : inputs_)
    if (l.staging) {
      VkBufferCopy region{l.staging->offset(), l.tensor.offset(), l.tensor.bytes()};
      vkCmdCopyBuffer(cb_, l.staging->buffer(), l.tensor.buffer(), 1, &region);
      staged_in = true;
    }
  if (staged_in)
    barrier(cb_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  for (auto& r : records_) record(r);
  // Make the results visible to the host (downloads map or copy after the fence).
  barrier(cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
          VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);
  bool staged_out = false;
  for (auto& l : outputs_)
    if (l.staging) {
      VkBufferCopy region{l.tensor.offset(), l.staging->offset(), l.tensor.bytes()};
      vkCmdCopyBuffer(cb_, l.tensor.buffer(), l.staging->buffer(), 1, &region);
      staged_out = true;
    }
  if (staged_out)
    barrier(cb_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT);
  vk_check(vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
  recorded_ = true;
  ms_.assign(records_.size(), 0.0);
}

void Sequence::run() {
  if (!recorded_) record_commands();
  ctx_.submit_and_wait(cb_, fence_);
  runs_++;
  if (!profile_) return;
  std::vector<uint64_t> stamps(queries_);
  for (size_t p = 0; p < query_pools_.size(); p++) {
    uint32_t first = uint32_t(p) * kQueriesPerPool;
    uint32_t count = std::min(kQueriesPerPool, queries_ - first);
    vk_check(vkGetQueryPoolResults(ctx_.device(), query_pools_[p], 0, count, count * 8, stamps.data() + first, 8,
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
             "vkGetQueryPoolResults");
  }
  const DeviceInfo& d = ctx_.info();
  for (size_t i = 0; i < records_.size(); i++)
    ms_[i] += timestamp_delta_ns(stamps[i], stamps[i + 1], d.timestamp_valid_bits, d.timestamp_period_ns) * 1e-6;
}

std::vector<ProfileEntry> Sequence::profile() const {
  std::vector<ProfileEntry> out;
  for (size_t i = 0; i < records_.size(); i++)
    out.push_back({records_[i].label, records_[i].kernel->name, i < ms_.size() ? ms_[i] : 0.0, runs_});
  return out;
}

void allocate_commands(Context& ctx, VkCommandBuffer* cb, VkFence* fence) {
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = ctx.command_pool();
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  vk_check(vkAllocateCommandBuffers(ctx.device(), &ai, cb), "vkAllocateCommandBuffers");
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  vk_check(vkCreateFence(ctx.device(), &fci, nullptr, fence), "vkCreateFence");
}

}  // namespace sdvk
