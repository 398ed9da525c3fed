#include "scheduler/torch_rng.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"

// Bit-exact float32 arithmetic: each multiply and add below must round on its own unless it is
// written as std::fma, whatever the target's default for contracting a * b + c.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace sdvk {

// ---- Mersenne twister (the reference algorithm of Matsumoto and Nishimura) ----

Mt19937::Mt19937(uint64_t seed) {
  state_[0] = uint32_t(seed & 0xffffffffu);
  for (uint32_t j = 1; j < 624; ++j)
    state_[j] = 1812433253u * (state_[j - 1] ^ (state_[j - 1] >> 30)) + j;
  index_ = 624;
}

void Mt19937::refill() {
  constexpr uint32_t kMatrixA = 0x9908b0dfu, kUpper = 0x80000000u, kLower = 0x7fffffffu;
  for (int j = 0; j < 624; ++j) {
    uint32_t y = (state_[j] & kUpper) | (state_[(j + 1) % 624] & kLower);
    state_[j] = state_[(j + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  }
  index_ = 0;
}

uint32_t Mt19937::next() {
  if (index_ >= 624) refill();
  uint32_t y = state_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

// ---- float32 log / sincos exactly as PyTorch's AVX2 normal kernel computes them ----
// These follow the Cephes single-precision algorithms (range reduction, then minimax
// polynomials) that avx_mathfun.h vectorises; the multiply-adds are fused the way GCC fuses
// that header's separate multiply and add intrinsics when it builds PyTorch with -mfma.
namespace {

float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Natural log of x in (0, 1] (the kernel only sees 1 - uniform).
float cephes_logf(float x) {
  x = std::fmax(x, bits_to_float(0x00800000u));  // no denormals
  int32_t exponent = int32_t(float_to_bits(x) >> 23) - 0x7f;
  x = bits_to_float((float_to_bits(x) & ~0x7f800000u) | float_to_bits(0.5f));  // mantissa in [0.5, 1)
  float e = float(exponent) + 1.0f;
  if (x < 0.707106781186547524f) {  // use [sqrt(1/2), sqrt(2)) around 1
    e = e - 1.0f;
    x = (x - 1.0f) + x;
  } else {
    x = x - 1.0f;
  }
  const float z = x * x;
  float y = std::fma(7.0376836292E-2f, x, -1.1514610310E-1f);
  y = std::fma(y, x, 1.1676998740E-1f);
  y = std::fma(y, x, -1.2420140846E-1f);
  y = std::fma(y, x, 1.4249322787E-1f);
  y = std::fma(y, x, -1.6668057665E-1f);
  y = std::fma(y, x, 2.0000714765E-1f);
  y = std::fma(y, x, -2.4999993993E-1f);
  y = std::fma(y, x, 3.3333331174E-1f);
  y = y * x;
  y = std::fma(y, z, e * -2.12194440e-4f);
  y = std::fma(-z, 0.5f, y);
  return std::fma(e, 0.693359375f, x + y);
}

// sin and cos of x >= 0 (the kernel only sees 2*pi*uniform).
void cephes_sincosf(float x, float* sin_out, float* cos_out) {
  int32_t j = int32_t(x * 1.27323954473516f);  // truncation, as cvttps
  j = (j + 1) & ~1;
  const float y = float(j);
  const bool swap_sin = (j & 4) != 0;
  const bool sin_poly = (j & 2) != 0;  // octant where sine uses the cosine polynomial
  const bool swap_cos = ((j - 2) & 4) == 0;
  // Extended-precision reduction x - y * pi/4 in three parts.
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const float z = x * x;
  float c = std::fma(2.443315711809948E-005f, z, -1.388731625493765E-003f);
  c = std::fma(c, z, 4.166664568298827E-002f);
  c = c * z;
  c = std::fma(c, z, -(z * 0.5f));
  c = c + 1.0f;
  float s = std::fma(-1.9515295891E-4f, z, 8.3321608736E-3f);
  s = std::fma(s, z, -1.6666654611E-1f);
  s = s * z;
  s = std::fma(s, x, x);
  float sin_v = sin_poly ? c : s;
  float cos_v = sin_poly ? s : c;
  *sin_out = swap_sin ? -sin_v : sin_v;
  *cos_out = swap_cos ? -cos_v : cos_v;
}

// Box-Muller on one block of 16 uniforms: pairs (j, j + 8).
void normal_fill_16(float* data) {
  const float two_pi = float(2.0 * 3.14159265358979323846);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];  // [0, 1) -> (0, 1] for the log
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * cephes_logf(u1));
    float s, c;
    cephes_sincosf(two_pi * u2, &s, &c);
    data[j] = radius * c;
    data[j + 8] = radius * s;
  }
}

}  // namespace

// ---- generator ----

TorchGenerator::TorchGenerator(uint64_t seed) : engine_(seed) {}

uint32_t TorchGenerator::random() { return engine_.next(); }

uint64_t TorchGenerator::random64() {
  const uint64_t hi = engine_.next();
  const uint64_t lo = engine_.next();
  return (hi << 32) | lo;
}

float TorchGenerator::uniform_float() {
  return float(random() & ((1u << 24) - 1)) * (1.0f / float(1u << 24));
}

double TorchGenerator::uniform_double() {
  return double(random64() & ((uint64_t(1) << 53) - 1)) * (1.0 / double(uint64_t(1) << 53));
}

double TorchGenerator::normal_double() {
  if (next_double_normal_) {
    const double cached = *next_double_normal_;
    next_double_normal_.reset();
    return cached;
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double r = std::sqrt(-2.0 * std::log1p(-u2));
  const double theta = 2.0 * 3.14159265358979323846 * u1;
  next_double_normal_ = r * std::sin(theta);
  return r * std::cos(theta);
}

void TorchGenerator::normal_fill(float* data, size_t count) {
  for (size_t i = 0; i < count; ++i) data[i] = uniform_float();
  for (size_t i = 0; i + 16 <= count; i += 16) normal_fill_16(data + i);
  if (count % 16 != 0) {
    float* tail = data + count - 16;  // redraw and redo the last 16, as PyTorch does
    for (int i = 0; i < 16; ++i) tail[i] = uniform_float();
    normal_fill_16(tail);
  }
}

std::vector<float> TorchGenerator::randn(size_t count) {
  std::vector<float> out(count);
  if (count >= 16) {
    normal_fill(out.data(), count);
  } else {
    for (auto& v : out) v = float(normal_double());
  }
  return out;
}

std::vector<float> TorchGenerator::rand(size_t count) {
  std::vector<float> out(count);
  for (auto& v : out) v = uniform_float();
  return out;
}

std::vector<float> batch_slice(uint64_t seed, size_t batch, size_t per_image_count, size_t index) {
  // 2^31 floats (8 GiB) is far beyond any latent batch: refuse rather than allocate it.
  constexpr size_t kMaxElements = size_t(1) << 31;
  if (batch == 0 || per_image_count == 0 || per_image_count > kMaxElements / batch)
    throw Error("noise batch: " + std::to_string(batch) + " x " + std::to_string(per_image_count) +
                " elements is empty or too large");
  if (index >= batch)
    throw Error("noise batch: image " + std::to_string(index) + " of a batch of " + std::to_string(batch));
  TorchGenerator generator(seed);
  std::vector<float> all = generator.randn(batch * per_image_count);
  return std::vector<float>(all.begin() + ptrdiff_t(index * per_image_count),
                            all.begin() + ptrdiff_t((index + 1) * per_image_count));
}

}  // namespace sdvk
