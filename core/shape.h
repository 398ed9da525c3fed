// The shape of a tensor, on the host or the device: sizes of its axes, outermost first.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sdvk {

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[2,4,64,64]"

}  // namespace sdvk
