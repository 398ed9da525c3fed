#include "tests/support/cli_run.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/safetensors.h"
#include "model/tensor_convert.h"

namespace sdvk::test {

namespace fs = std::filesystem;

namespace {
std::atomic<int> g_counter{0};
std::string unique_name(const std::string& tag) {
  return (fs::temp_directory_path() / ("sdvk-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++))).string();
}
}  // namespace

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

CliResult run_cli(const std::string& args, const std::string& env) {
  std::string base = unique_name("cli");
  std::string out = base + ".out", err = base + ".err";
  int rc = std::system(("SDVK_VALIDATION=1 " + env + " " + std::string(SDVK_CLI) + " " + args + " >" + out + " 2>" + err).c_str());
  CliResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  EXPECT_EQ(r.err.find("vulkan validation:"), std::string::npos) << "sdvk " << args << "\n" << r.err;
  return r;
}

TempDir::TempDir(const std::string& tag) : path_(unique_name(tag)) { fs::create_directories(path_); }
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<float> tensor_values(const std::string& file, const std::string& name) {
  SafetensorsFile f(file);
  const TensorInfo* t = f.find(name);
  if (!t) throw std::runtime_error(file + " lacks " + name);
  if (t->dtype == FileDType::I64 || t->dtype == FileDType::U8) {
    std::vector<float> v(size_t(t->numel()));
    for (size_t i = 0; i < v.size(); i++) {
      if (t->dtype == FileDType::U8) {
        v[i] = float(t->data[i]);
      } else {
        int64_t x;
        std::memcpy(&x, t->data + i * 8, 8);
        v[i] = float(x);
      }
    }
    return v;
  }
  return to_f32(*t);
}

}  // namespace sdvk::test
