// Where a write that replaces a file atomically (temporary file + rename) must rename to.
#pragma once
#include <string>

namespace sdvk {

// `path` itself, or for a symbolic link the file it finally points to, so the link stays a
// link and its target gets the new bytes (the temporary goes next to the target, where the
// rename is atomic). Throws Error("<path>: ...") when what is there is not a regular file (a
// folder, a device node, a socket): only regular files are ever replaced.
std::string replace_target(const std::string& path);

}  // namespace sdvk
