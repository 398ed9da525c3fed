// Vulkan results as sdvk::Error (core/error.h): for the code that calls Vulkan itself.
#pragma once
#include <vulkan/vulkan.h>

#include "core/error.h"

namespace sdvk {

// Readable name of a VkResult, for error messages.
const char* vk_result_name(VkResult r);

// Throws Error("<what>: VK_ERROR_...") when r is not VK_SUCCESS.
void vk_check(VkResult r, const char* what);

}  // namespace sdvk
