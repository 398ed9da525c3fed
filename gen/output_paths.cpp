#include "gen/output_paths.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "model/replace_target.h"

namespace sdvk::gen {

namespace {

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

}  // namespace

void check_writable_folder(const std::string& path, const std::string& flag) {
  std::string folder = std::filesystem::path(path).parent_path().string();
  if (folder.empty()) folder = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec))
    throw Error(flag + " " + path + ": folder " + folder + " does not exist");
  if (access(folder.c_str(), W_OK) != 0)
    throw Error(flag + " " + path + ": folder " + folder + " is not writable (" + std::strerror(errno) + ")");
}

void check_output_file(const std::string& path, const std::string& flag, bool overwrite) {
  if (path.empty()) throw Error(flag + ": empty file name");
  check_writable_folder(path, flag);
  try {
    replace_target(path);
  } catch (const Error& e) {
    throw Error(flag + " " + e.what());
  }
  if (exists(path) && !overwrite) throw Error(flag + " " + path + ": file exists (pass --overwrite to replace it)");
}

OutputPaths::OutputPaths(std::string pattern, bool overwrite)
    : pattern_(std::move(pattern)), overwrite_(overwrite), has_counter_(pattern_.find("{n}") != std::string::npos) {
  if (pattern_.empty()) throw Error("--output: empty pattern");
  std::string probe = expand({}, 1);
  if (probe.find('{') != std::string::npos || probe.find('}') != std::string::npos)
    throw Error("--output " + pattern_ + ": unknown placeholder (use {n}, {seed}, {index}, {rank}, {prompt})");
  check_writable_folder(probe, "--output");
}

std::string OutputPaths::expand(const OutputFields& f, int counter) const {
  std::string s = pattern_;
  char n[16];
  std::snprintf(n, sizeof n, "%05d", counter);
  replace_all(s, "{n}", n);
  replace_all(s, "{seed}", std::to_string(f.seed));
  replace_all(s, "{index}", std::to_string(f.index));
  replace_all(s, "{rank}", std::to_string(f.rank));
  replace_all(s, "{prompt}", std::to_string(f.prompt));
  return s;
}

std::string OutputPaths::next(const OutputFields& fields) {
  if (has_counter_) {
    for (int tries = 0; tries < 1000000; tries++) {
      std::string path = expand(fields, ++counter_);
      if (!exists(path) && !used_.count(path)) {
        used_.insert(path);
        return path;
      }
    }
    throw Error("--output " + pattern_ + ": no free file name");
  }
  std::string path = expand(fields, 0);
  if (used_.count(path))
    throw Error("--output " + pattern_ + ": names " + path + " for several images; add {n} or {index} to the pattern");
  check_output_file(path, "--output", true);  // a folder or a device is refused even with --overwrite
  if (exists(path) && !overwrite_)
    throw Error("--output " + path + ": file exists (add {n} to the pattern, or pass --overwrite)");
  used_.insert(path);
  return path;
}

}  // namespace sdvk::gen
