#include "gen/precision_flag.h"

#include <algorithm>
#include <vector>

#include "vk/error.h"
#include "vk/precision.h"

namespace sdvk::cli {

namespace {

struct PrecisionFlag {
  const char* command;
  const char* fallback;             // the value when --precision is absent
  std::vector<std::string> listed;  // what the error message offers; the fallback is also accepted
};

// generate and score run whole models, so they fit the device first (auto: fp16 where it can);
// component and bench sd15 check against float32 goldens; bench times both by default.
const std::vector<PrecisionFlag>& flags() {
  static const std::vector<PrecisionFlag> table = {
      {"generate", "auto", {"fp16", "fp32", "auto"}},
      {"score", "auto", {"fp32", "fp16"}},
      {"classify", "auto", {"fp32", "fp16"}},
      {"index", "auto", {"fp32", "fp16"}},
      {"search", "auto", {"fp32", "fp16"}},
      {"component", "fp32", {"fp32", "fp16"}},
      {"bench", "both", {"fp32", "fp16", "both"}},
      {"bench sd15", "fp32", {"fp32", "fp16"}},
      {"bench sdxl", "fp16", {"fp32", "fp16"}},  // SDXL is run in fp16: its 8 GB target
  };
  return table;
}

const PrecisionFlag& flag_of(const std::string& command) {
  for (const PrecisionFlag& f : flags())
    if (command == f.command) return f;
  throw Error(command + ": takes no --precision");
}

// "a, b or c"
std::string either(const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); i++) out += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i];
  return out;
}

}  // namespace

std::string take_precision(Args& args) { return args.take("--precision", flag_of(args.command()).fallback); }

Precision check_precision(const std::string& command, const std::string& value) {
  const PrecisionFlag& f = flag_of(command);
  if (value != f.fallback && std::find(f.listed.begin(), f.listed.end(), value) == f.listed.end())
    throw Error(command + ": --precision " + value + ": expected " + either(f.listed));
  if (value == "fp32") return Precision::F32;
  if (value == "fp16") return Precision::F16;
  return value == "both" ? Precision::Both : Precision::Auto;
}

DType precision_dtype(Precision precision, const Context& ctx) {
  if (precision == Precision::F16) {
    if (!ctx.info().fp16_storage) throw Error("--precision fp16: " + ctx.info().name + " has no 16-bit storage buffers");
    return DType::F16;
  }
  if (precision == Precision::F32) return DType::F32;
  return preferred_dtype(ctx);
}

}  // namespace sdvk::cli
