// The message of the sdvk::Error a call throws, for tests that check what an error says.
#pragma once
#include <string>

#include "core/error.h"

namespace sdvk::test {

// "" when `f` throws nothing.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace sdvk::test
