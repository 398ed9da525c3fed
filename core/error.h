// The one error type of the engine: a message with context, thrown up to main and printed as
// one line. Context is prepended as the error travels outwards ("loading unet: tensor x: ...").
// No Vulkan here: CPU code (model files, tokenizers, schedulers, images) throws it too.
#pragma once
#include <stdexcept>
#include <string>

namespace sdvk {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Error-message form of an untrusted string: control bytes escaped, long names shortened.
std::string printable(const std::string& s);

}  // namespace sdvk
