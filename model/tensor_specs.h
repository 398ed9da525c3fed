// What a network's config says its tensors must be, and the check of a loaded set against it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace sdvk {

using TensorMap = std::map<std::string, TensorInfo>;              // canonical name -> tensor
using TensorSpecs = std::map<std::string, std::vector<int64_t>>;  // canonical name -> shape

// Adds "<prefix>weight" and "<prefix>bias" of the given shapes.
void add_weight_bias(TensorSpecs& specs, const std::string& prefix, std::vector<int64_t> weight, int64_t bias);

// Compares `found` with `expected`: a missing tensor, a shape mismatch or a non-float tensor
// throws Error("<what>: ...") (expected vs found); tensors the config does not use are appended
// to `warnings`. An expected shape [] (a scalar) also accepts [1].
void check_tensors(const std::string& what, const TensorMap& found, const TensorSpecs& expected,
                   std::vector<std::string>* warnings);

// The tensor a config is read from: it must exist with `rank` dimensions of plausible size
// (at most 2^24 each, so arithmetic on them cannot overflow); otherwise Error("<where>:
// cannot read the <network> layout: ...").
const TensorInfo& read_layout_tensor(const TensorMap& tensors, const std::string& name, const std::string& where,
                                     size_t rank, const char* network);

// "'conv_in.weight'" or, for a renamed tensor, "'conv_in.weight' (file: 'model.diffusion_model...')".
std::string describe_tensor(const std::string& canonical, const TensorInfo& t);

}  // namespace sdvk
