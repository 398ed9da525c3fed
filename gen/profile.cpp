#include "gen/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace sdvk::cli {

void print_profile(const Sequence& s) {
  if (!s.profiling()) {
    std::printf("profile: this device has no timestamp queries\n");
    return;
  }
  std::map<std::string, std::pair<double, int>> by_label;
  double total = 0;
  for (auto& e : s.profile()) {
    by_label[e.label].first += e.ms / std::max(1u, e.runs);  // per run
    by_label[e.label].second++;
    total += e.ms / std::max(1u, e.runs);
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(by_label.begin(), by_label.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
  std::printf("%-24s %10s %10s %7s\n", "op", "dispatches", "ms/run", "share");
  for (auto& [label, v] : rows)
    std::printf("%-24s %10d %10.2f %6.1f%%\n", label.c_str(), v.second, v.first, total > 0 ? 100 * v.first / total : 0.0);
  std::printf("%-24s %10zu %10.2f\nactivation arena: %.2f MiB (unshared: %.2f MiB)\n", "total", s.dispatch_count(), total,
              double(s.arena_bytes()) / (1 << 20), double(s.temp_bytes_unshared()) / (1 << 20));
}

}  // namespace sdvk::cli
