// SPIR-V modules compiled from shaders/*.comp at build time and embedded in the binary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sdvk {

struct EmbeddedShader {
  const char* name;       // "<file>" or "<file>_<variant>", see CMakeLists.txt
  const uint32_t* words;  // SPIR-V
  size_t bytes;
};

const std::vector<EmbeddedShader>& embedded_shaders();  // generated: build/shader_registry.cpp

// The module called `name`; throws Error naming it when there is none.
const EmbeddedShader& find_shader(std::string_view name);

}  // namespace sdvk
