#include "pipeline/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sdvk::pipeline {

Progress::Progress(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO)) {}

void Progress::begin(const std::string& stage, int total, const std::string& unit) {
  stage_ = stage;
  unit_ = unit;
  total_ = total > 0 ? total : 1;
  done_ = 0;
  start_ = Clock::now();
  if (tty_) draw(false);
}

void Progress::advance(int done) {
  done_ = done;
  if (tty_) draw(false);
}

void Progress::end() {
  done_ = total_;
  draw(true);
  seconds_[stage_] += std::chrono::duration<double>(Clock::now() - start_).count();
}

void Progress::draw(bool final_line) {
  if (quiet_) return;
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  constexpr int kWidth = 20;
  int filled = int(double(kWidth) * done_ / total_);
  std::string bar = std::string(size_t(filled), '#') + std::string(size_t(kWidth - filled), '-');
  char rate[64] = "";
  if (total_ > 1 && done_ > 0 && elapsed > 0) {
    double per_s = done_ / elapsed;
    if (final_line)
      std::snprintf(rate, sizeof rate, "  %.2f %s/s  %.1fs", per_s, unit_.c_str(), elapsed);
    else
      std::snprintf(rate, sizeof rate, "  %.2f %s/s  ETA %.0fs", per_s, unit_.c_str(), (total_ - done_) / per_s);
  } else if (final_line) {
    std::snprintf(rate, sizeof rate, "  %.1fs", elapsed);
  }
  std::fprintf(stderr, "%s%-8s [%s] %3d/%-3d%s%s", tty_ ? "\r\033[K" : "", stage_.c_str(), bar.c_str(), done_, total_,
               rate, final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace sdvk::pipeline
