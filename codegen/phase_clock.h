// Compile-time phases and their seconds, for `--time-passes`: every target and tool appends to one
// list, so the report reads the same whichever target compiled.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace sinter {

using Timings = std::vector<std::pair<std::string, double>>;

// Appends (phase, seconds since the previous mark or restart) to `timings` when it is set.
class PhaseClock {
 public:
  explicit PhaseClock(Timings* timings) : timings_(timings) {}
  void mark(const std::string& phase) {
    auto now = std::chrono::steady_clock::now();
    if (timings_) timings_->emplace_back(phase, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  // After a call that recorded its own phases into the same Timings.
  void restart() { last_ = std::chrono::steady_clock::now(); }

 private:
  Timings* timings_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace sinter
