#include "model/tensor_convert.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/half.h"

namespace sdvk {

namespace {

[[noreturn]] void fail(const TensorInfo& t, const std::string& what) {
  throw Error(t.file + ": tensor '" + printable(t.name) + "': " + what);
}

// Element i of a float tensor as float32; the mapping is unaligned, hence memcpy.
float element(const TensorInfo& t, size_t i) {
  if (t.dtype == FileDType::F32) {
    float f;
    std::memcpy(&f, t.data + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, t.data + 2 * i, 2);
  return t.dtype == FileDType::F16 ? half_to_float(h) : bf16_to_float(h);
}

// Converts n elements to float16 bits (into `out` when given) and notes what float16 loses, in
// one pass with the storage type fixed outside the loop: loading a float32 checkpoint as
// float16 converts about a billion values.
template <class Load>
F16RangeReport to_half_checked(size_t first, size_t last, Load load, uint16_t* out) {
  F16RangeReport r;
  float largest = 0.0f;
  for (size_t i = first; i < last; i++) {
    const float f = load(i);
    const uint16_t h = float_to_half(f);
    if (out) out[i] = h;
    const float a = std::fabs(f);
    if (!(a <= 3.4028235e38f)) continue;  // NaN and Inf stay what they are
    largest = std::max(largest, a);
    if ((h & 0x7c00u) == 0x7c00u)
      r.overflow++;
    else if ((h & 0x7fffu) == 0 && f != 0.0f)
      r.underflow++;
  }
  r.largest = largest;
  return r;
}

// Elements [first, last) of a float32 or bfloat16 tensor through to_half_checked.
F16RangeReport convert_range(const TensorInfo& t, size_t first, size_t last, uint16_t* out) {
  const uint8_t* d = t.data;
  if (t.dtype == FileDType::F32)
    return to_half_checked(first, last, [d](size_t i) { float f; std::memcpy(&f, d + 4 * i, 4); return f; }, out);
  return to_half_checked(first, last, [d](size_t i) { uint16_t b; std::memcpy(&b, d + 2 * i, 2); return bf16_to_float(b); }, out);
}

// The whole tensor, large ones split over the machine's cores (a UNet's big tensors have
// millions of values; the reports add up in a fixed order, so the result does not depend on
// the thread count).
F16RangeReport convert_to_f16(const TensorInfo& t, uint16_t* out) {
  const size_t n = size_t(t.numel()), kMinPerThread = size_t(1) << 18;
  const size_t threads = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), n / kMinPerThread));
  if (threads == 1) return convert_range(t, 0, n, out);
  std::vector<F16RangeReport> parts(threads);
  std::vector<std::thread> workers;
  for (size_t k = 0; k < threads; k++)
    workers.emplace_back([&, k] { parts[k] = convert_range(t, n * k / threads, n * (k + 1) / threads, out); });
  for (auto& w : workers) w.join();
  F16RangeReport r;
  for (const F16RangeReport& p : parts) {
    r.overflow += p.overflow;
    r.underflow += p.underflow;
    r.largest = std::max(r.largest, p.largest);
  }
  return r;
}

void require_float(const TensorInfo& t) {
  if (!t.is_float()) fail(t, std::string("dtype ") + file_dtype_name(t.dtype) + " is not a float format (F32, F16, BF16)");
}

}  // namespace

float bf16_to_float(uint16_t b) {
  uint32_t x = uint32_t(b) << 16;  // bfloat16 is the top half of a float32
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

std::vector<float> to_f32(const TensorInfo& t) {
  require_float(t);
  size_t n = size_t(t.numel());
  std::vector<float> out(n);
  if (t.dtype == FileDType::F32) {
    if (n) std::memcpy(out.data(), t.data, 4 * n);
  } else {
    for (size_t i = 0; i < n; i++) out[i] = element(t, i);
  }
  return out;
}

F16RangeReport check_f16_range(const TensorInfo& t) {
  require_float(t);
  if (t.dtype == FileDType::F16) return {};  // already float16: nothing to lose
  return convert_to_f16(t, nullptr);
}

std::vector<float> ids_to_f32(const TensorInfo& t) {
  if (t.dtype != FileDType::I64 && t.dtype != FileDType::I32)
    throw Error(t.file + ": tensor '" + t.name + "' holds token ids and must be int64 or int32");
  std::vector<float> out(size_t(t.numel()));
  for (size_t i = 0; i < out.size(); i++) {
    int64_t v = 0;
    if (t.dtype == FileDType::I64) {
      std::memcpy(&v, t.data + i * 8, 8);
    } else {
      int32_t v32;
      std::memcpy(&v32, t.data + i * 4, 4);
      v = v32;
    }
    if (v < 0 || v >= (int64_t(1) << 24))
      throw Error(t.file + ": tensor '" + t.name + "' holds id " + std::to_string(v) + ", outside [0, 2^24)");
    out[i] = float(v);
  }
  return out;
}

std::vector<uint16_t> to_f16(const TensorInfo& t) {
  require_float(t);
  size_t n = size_t(t.numel());
  std::vector<uint16_t> out(n);
  if (t.dtype == FileDType::F16) {
    if (n) std::memcpy(out.data(), t.data, 2 * n);
    return out;
  }
  F16RangeReport r = convert_to_f16(t, out.data());
  if (r.overflow) {
    char largest[32];
    std::snprintf(largest, sizeof largest, "%.6g", r.largest);
    fail(t, std::to_string(r.overflow) + " of " + std::to_string(n) + " " + file_dtype_name(t.dtype) +
                " values are outside the float16 range (largest magnitude " + largest +
                "); keep this tensor in float32");
  }
  return out;
}

}  // namespace sdvk
