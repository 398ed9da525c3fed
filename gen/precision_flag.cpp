#include "gen/precision_flag.h"

#include "vk/error.h"
#include "vk/precision.h"

namespace sdvk::gen {

DType pick_precision(const std::string& precision, const Context& ctx) {
  if (precision == "fp16") {
    if (!ctx.info().fp16_storage) throw Error("--precision fp16: " + ctx.info().name + " has no 16-bit storage buffers");
    return DType::F16;
  }
  if (precision == "fp32") return DType::F32;
  return preferred_dtype(ctx);
}

}  // namespace sdvk::gen
