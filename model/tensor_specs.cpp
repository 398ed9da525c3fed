#include "model/tensor_specs.h"

#include "core/error.h"

namespace sdvk {

void add_weight_bias(TensorSpecs& specs, const std::string& prefix, std::vector<int64_t> weight, int64_t bias) {
  specs[prefix + "weight"] = std::move(weight);
  specs[prefix + "bias"] = {bias};
}

std::string describe_tensor(const std::string& canonical, const TensorInfo& t) {
  std::string s = "'" + printable(canonical) + "'";
  if (t.name != canonical) s += " (in the file: '" + printable(t.name) + "')";
  return s;
}

const TensorInfo& read_layout_tensor(const TensorMap& tensors, const std::string& name, const std::string& where,
                                     size_t rank, const char* network) {
  std::string fail = where + ": cannot read the " + network + " layout: tensor '" + name + "'";
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(fail + " missing");
  const TensorInfo& t = it->second;
  bool plausible = t.shape.size() == rank;
  for (int64_t d : t.shape) plausible = plausible && d >= 1 && d <= (int64_t(1) << 24);
  if (!plausible)
    throw Error(fail + " has shape " + shape_string(t.shape) + ", expected " + std::to_string(rank) +
                " dimensions from 1 to 2^24");
  return t;
}

void check_tensors(const std::string& what, const TensorMap& found, const TensorSpecs& expected,
                   std::vector<std::string>* warnings) {
  std::vector<std::string> missing;
  for (auto& [name, shape] : expected) {
    auto it = found.find(name);
    if (it == found.end()) {
      missing.push_back("'" + name + "' " + shape_string(shape));
      continue;
    }
    const TensorInfo& t = it->second;
    bool scalar_ok = shape.empty() && t.numel() == 1 && t.shape.size() <= 1;
    if (t.shape != shape && !scalar_ok)
      throw Error(what + ": tensor " + describe_tensor(name, t) + " has shape " + shape_string(t.shape) +
                  ", expected " + shape_string(shape));
    if (!t.is_float())
      throw Error(what + ": tensor " + describe_tensor(name, t) + " has dtype " + file_dtype_name(t.dtype) +
                  ", expected F32, F16 or BF16");
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 3; i++) list += (i ? ", " : "") + missing[i];
    throw Error(what + ": " + std::to_string(missing.size()) + " tensor" + (missing.size() > 1 ? "s" : "") +
                " missing: " + list + (missing.size() > 3 ? ", ..." : ""));
  }
  for (auto& [name, t] : found)
    if (!expected.count(name))
      warnings->push_back(what + ": unexpected tensor " + describe_tensor(name, t) + " " + shape_string(t.shape) +
                          " ignored");
}

}  // namespace sdvk
