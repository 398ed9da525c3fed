// Memory-bound elementwise ops: broadcasting add/sub/mul, affine scale, dtype cast and the
// non-finite counter run at stage boundaries. float32 or float16 storage, float32 arithmetic.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vk/sequence.h"

namespace sdvk::ops {

enum class BinaryOp : uint32_t { Add = 0, Sub = 1, Mul = 2 };

// The numpy/PyTorch broadcast of two shapes (trailing dims aligned; a dim of 1 or a missing
// leading dim stretches), e.g. [2,320,64,64] and [2,320,1,1] -> [2,320,64,64]. Throws Error
// naming `op` when a pair of dims is neither equal nor 1.
Shape broadcast_shape(const std::string& op, const Shape& a, const Shape& b);

// y = a op b with broadcasting, up to 6 dims. y has the broadcast shape; a, b, y share a dtype.
// y may alias a (or b) when it has that operand's shape and offset.
void binary(Sequence& s, BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& y);

// y = alpha * x + beta; x and y same shape and dtype (y may be x).
void scale(Sequence& s, const Tensor& x, const Tensor& y, float alpha, float beta = 0.0f);

// y = x converted to y's dtype; same shape, any dtype pair. float32 -> float16 rounds to
// nearest even, beyond 65504 gives Inf, subnormals are kept (as a PyTorch cast does).
void cast(Sequence& s, const Tensor& x, const Tensor& y);

// Counts the NaN and +-Inf values of x into `count`, a [1] F32 tensor that it overwrites with
// the count as a float (exact up to 2^24). One pass over x between two one-invocation
// dispatches (zero the count; convert the uint the atomics summed into a float).
void nonfinite(Sequence& s, const Tensor& x, const Tensor& count);
// Downloads the count that nonfinite wrote.
uint64_t read_count(Context& ctx, const Tensor& count);

namespace ref {
// `a` of shape as, `b` of shape bs; the result has broadcast_shape(as, bs), row-major.
std::vector<float> binary(BinaryOp op, const std::vector<float>& a, const Shape& as, const std::vector<float>& b,
                          const Shape& bs);
std::vector<float> scale(const std::vector<float>& x, float alpha, float beta);
// The float16 value nearest to x (ties to even), Inf beyond the float16 range, NaN kept.
float to_half(float x);
uint64_t nonfinite(const std::vector<float>& x);
}  // namespace ref

}  // namespace sdvk::ops
