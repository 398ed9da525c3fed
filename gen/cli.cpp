#include "gen/cli.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/error.h"

namespace sdvk::cli {

bool Args::take_next(const std::string& name, std::string* value) {
  for (size_t i = 0; i < args_.size(); i++) {
    if (args_[i] == name) {
      if (i + 1 >= args_.size()) throw Error(command_ + ": " + name + " needs a value");
      *value = args_[i + 1];
      args_.erase(args_.begin() + long(i), args_.begin() + long(i) + 2);
      return true;
    }
    if (args_[i].rfind(name + "=", 0) == 0) {
      *value = args_[i].substr(name.size() + 1);
      args_.erase(args_.begin() + long(i));
      return true;
    }
  }
  return false;
}

bool Args::take_once(const std::string& name, std::string* value) {
  if (!take_next(name, value)) return false;
  std::string again;
  if (take_next(name, &again)) throw Error(command_ + ": " + name + " is given more than once");
  return true;
}

std::string Args::take(const std::string& name, const std::string& fallback) {
  std::string value;
  if (!take_once(name, &value)) return fallback;
  // `--shard=` or `--steps ""` (an unset shell variable) must not quietly mean the default.
  if (value.empty()) throw Error(command_ + ": " + name + " needs a value, got an empty one");
  return value;
}

std::string Args::take_text(const std::string& name) {
  std::string value;
  take_once(name, &value);
  return value;
}

bool Args::take_flag(const std::string& name) {
  auto count = std::count(args_.begin(), args_.end(), name);
  if (count > 1) throw Error(command_ + ": " + name + " is given more than once");
  args_.erase(std::remove(args_.begin(), args_.end(), name), args_.end());
  return count == 1;
}

int Args::take_int(const std::string& name, int fallback, int min, int max) {
  std::string v = take(name);
  if (v.empty()) return fallback;
  size_t used = 0;
  long n = 0;
  try {
    n = std::stol(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used != v.size() || n < min || n > max)
    throw Error(command_ + ": " + name + " " + v + ": expected a whole number from " + std::to_string(min) + " to " +
                std::to_string(max));
  return int(n);
}

double Args::take_double(const std::string& name, double fallback, double min, double max, bool* present) {
  std::string v = take(name);
  if (present) *present = !v.empty();
  if (v.empty()) return fallback;
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used != v.size() || !(x >= min && x <= max))
    throw Error(command_ + ": " + name + " " + v + ": expected a number from " + std::to_string(min) + " to " +
                std::to_string(max));
  return x;
}

uint64_t Args::take_u64(const std::string& name, uint64_t fallback, bool* present) {
  std::string v = take(name);
  if (present) *present = !v.empty();
  if (v.empty()) return fallback;
  size_t used = 0;
  unsigned long long n = 0;
  try {
    if (v[0] != '-' && v[0] != '+') n = std::stoull(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != v.size())
    throw Error(command_ + ": " + name + " " + v + ": expected a whole number from 0 to 18446744073709551615");
  return n;
}

std::vector<std::string> Args::take_all(const std::string& name) {
  std::vector<std::string> values;
  for (std::string v; take_next(name, &v);) values.push_back(v);
  return values;
}

void Args::expect_empty() const {
  if (!args_.empty()) throw Error(command_ + ": unknown argument '" + args_[0] + "' (see --help)");
}

bool Args::usage(const char* text, int* status) {
  const bool nothing = args_.empty();  // before --help is taken: `CMD --help` asked for it
  if (!take_flag("--help") && !nothing) return false;
  std::fputs(text, nothing ? stderr : stdout);
  *status = nothing ? 2 : 0;
  return true;
}

std::vector<std::string> Args::positional() const {
  for (auto& a : args_)
    if (a.rfind("--", 0) == 0) throw Error(command_ + ": unknown argument '" + a + "' (see --help)");
  return args_;
}

}  // namespace sdvk::cli
