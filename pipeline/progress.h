// Progress of the long stages (load, encode, denoise, decode) as a bar on stderr:
//   denoise  [##########----------]  5/10  2.31 it/s  ETA 2s
// Redrawn in place on a terminal; on a pipe or file one line per stage end, so logs stay
// readable. Quiet mode prints nothing.
#pragma once
#include <chrono>
#include <map>
#include <string>

namespace sdvk::pipeline {

class Progress {
 public:
  explicit Progress(bool quiet);
  // Starts a stage of `total` units (total 1 for a stage without steps), rated in `unit`/s.
  void begin(const std::string& stage, int total, const std::string& unit = "it");
  void advance(int done);  // `done` units of the current stage are finished
  void end();              // the stage is finished; its time is recorded
  // Seconds each finished stage took (summed when a stage runs several times).
  const std::map<std::string, double>& seconds() const { return seconds_; }

 private:
  using Clock = std::chrono::steady_clock;
  void draw(bool final_line);

  bool quiet_, tty_;
  std::string stage_, unit_;
  int total_ = 0, done_ = 0;
  Clock::time_point start_;
  std::map<std::string, double> seconds_;
};

}  // namespace sdvk::pipeline
