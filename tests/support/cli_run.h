// Runs the sdvk CLI from a test, with the Khronos validation layer on: a validation message
// on stderr fails the calling test.
#pragma once
#include <string>
#include <vector>

namespace sdvk::test {

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// `args` is appended to the sdvk binary's path on a shell command line (quote as needed);
// `env` ("NAME=value ...") goes before it.
CliResult run_cli(const std::string& args, const std::string& env = "");

// A fresh empty folder under the temp directory, removed by its destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path);
// Float32 values of tensor `name` in a safetensors file (integers converted).
std::vector<float> tensor_values(const std::string& file, const std::string& name);

}  // namespace sdvk::test
