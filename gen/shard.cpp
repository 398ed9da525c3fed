#include "gen/shard.h"

#include "core/error.h"

namespace sdvk::gen {

namespace {

// A plain decimal number up to 1,000,000 (no sign, no spaces), else -1.
int small_number(const std::string& s) {
  if (s.empty() || s.size() > 7 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int n = std::stoi(s);
  return n <= 1000000 ? n : -1;
}

}  // namespace

Shard parse_shard(const std::string& spec) {
  const size_t slash = spec.find('/');
  Shard s;
  s.index = slash == std::string::npos ? -1 : small_number(spec.substr(0, slash));
  s.count = slash == std::string::npos ? -1 : small_number(spec.substr(slash + 1));
  if (s.index < 0 || s.count < 1 || s.index >= s.count)
    throw Error("--shard " + spec + ": expected I/N, shard I of N counted from 0 (0 <= I < N <= 1000000), e.g. 0/4");
  return s;
}

}  // namespace sdvk::gen
