// Broadcasting add/sub/mul, float32 or float16 storage, float32 arithmetic.
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

namespace ref {
// `a` of shape as, `b` of shape bs; the result has broadcast_shape(as, bs), row-major.
std::vector<float> binary(BinaryOp op, const std::vector<float>& a, const Shape& as, const std::vector<float>& b,
                          const Shape& bs);
}  // namespace ref

}  // namespace sdvk::ops
