// The one error type of the engine: a message with context, thrown up to main and printed as
// one line. Context is prepended as the error travels outwards ("loading unet: tensor x: ...").
#pragma once
#include <stdexcept>
#include <string>
#include <vulkan/vulkan.h>

namespace sdvk {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Readable name of a VkResult, for error messages.
const char* vk_result_name(VkResult r);

// Throws Error("<what>: VK_ERROR_...") when r is not VK_SUCCESS.
void vk_check(VkResult r, const char* what);

}  // namespace sdvk
