// A device selector (ContextOptions::device, else SDVK_DEVICE) that picks no usable device,
// thrown by Context's constructor. The command line reports it as its --device flag
// (gen/main.cpp); the engine does not name flags.
#pragma once
#include <string>

#include "vk/error.h"

namespace sdvk {

class DeviceSelectorError : public Error {
 public:
  DeviceSelectorError(const std::string& selector, const std::string& reason)
      : Error("device " + selector + ": " + reason), selector(selector), reason(reason) {}
  std::string selector, reason;
};

}  // namespace sdvk
