// A random generator that reproduces PyTorch's CPU generator bit for bit, so a seed gives the
// same initial noise (and so the same image) as a diffusers script run with
//   generator = torch.Generator().manual_seed(seed)      # on the CPU
//   torch.randn(shape, generator=generator)               # float32
//   torch.rand(shape, generator=generator)                # float32
//
// What PyTorch does (aten/src/ATen/core/CPUGeneratorImpl, MT19937RNGEngine.h,
// DistributionsHelper.h, native/cpu/DistributionTemplates.h, native/cpu/avx_mathfun.h):
// - the engine is the 32-bit Mersenne twister seeded with the low 32 bits of the 64-bit seed;
// - a float uniform uses one 32-bit draw: (draw & (2^24 - 1)) * 2^-24;
// - randn of a float tensor with 16 or more elements first fills the whole tensor with such
//   uniforms, then turns each block of 16 into normals with Box-Muller (element j and j + 8 of
//   a block are one pair); when the size is not a multiple of 16 the LAST 16 elements are drawn
//   again and transformed again. x86 builds (the AVX2 kernel, which AVX-512 machines also run
//   for this op) evaluate log/sin/cos with the Cephes polynomials of avx_mathfun.h in float32,
//   with the multiply-adds fused; that is what is reproduced here;
// - randn of fewer than 16 elements draws each one with the double-precision Box-Muller of
//   normal_distribution<double> (two 53-bit uniforms from two 32-bit draws each), which makes
//   two normals and keeps the second for the next call.
//
// Batches: diffusers draws the initial latents of a batch of B images as ONE tensor
// [B, 4, h, w] from one generator, so image k is slice k of that draw, and its values depend on
// B (the Box-Muller blocks and the redrawn tail span the whole tensor). Regenerating image k of
// a batch alone therefore needs B and k: batch_slice() returns exactly that slice.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace sdvk {

// The 32-bit Mersenne twister MT19937, seeded like PyTorch's at::mt19937 (low 32 bits).
class Mt19937 {
 public:
  explicit Mt19937(uint64_t seed = 5489);
  uint32_t next();

 private:
  void refill();
  uint32_t state_[624];
  int index_ = 624;
};

class TorchGenerator {
 public:
  // = torch.Generator().manual_seed(seed): a fresh engine and no cached normal.
  explicit TorchGenerator(uint64_t seed);

  // torch.randn(count elements) as float32, in row-major order of the tensor's shape.
  std::vector<float> randn(size_t count);
  // torch.rand(count elements) as float32, uniform in [0, 1).
  std::vector<float> rand(size_t count);

  uint32_t random();    // one engine draw, = CPUGeneratorImpl::random()
  uint64_t random64();  // two draws, the first one high, = CPUGeneratorImpl::random64()

 private:
  float uniform_float();    // 24-bit uniform in [0, 1)
  double uniform_double();  // 53-bit uniform in [0, 1)
  double normal_double();   // Box-Muller with the cached second value
  void normal_fill(float* data, size_t count);

  Mt19937 engine_;
  std::optional<double> next_double_normal_;
};

// Element values of slice `index` of torch.randn([batch, per_image...]) drawn from a fresh
// generator seeded with `seed`: what image `index` of a diffusers batch starts from.
// per_image_count is the product of the per-image dimensions. Throws Error when index >= batch
// or the sizes are zero or absurd.
std::vector<float> batch_slice(uint64_t seed, size_t batch, size_t per_image_count, size_t index);

}  // namespace sdvk
