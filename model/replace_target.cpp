#include "model/replace_target.h"

#include <filesystem>

#include "core/error.h"

namespace sdvk {

namespace fs = std::filesystem;

std::string replace_target(const std::string& path) {
  fs::path target = path;
  std::error_code ec;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target, ec)); hops++) {
    if (hops == 40) throw Error(path + ": too many levels of symbolic links");
    fs::path next = fs::read_symlink(target, ec);
    if (ec) throw Error(path + ": cannot read the symbolic link (" + ec.message() + ")");
    target = next.is_absolute() ? next : target.parent_path() / next;
  }
  fs::file_status status = fs::status(target, ec);
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    const char* what = fs::is_directory(status) ? "a folder" : "not a regular file";
    throw Error(path + (target == fs::path(path) ? "" : " (-> " + target.string() + ")") + ": is " + what +
                "; only regular files are replaced");
  }
  return target.string();
}

}  // namespace sdvk
