// Where the time of a serving step goes, for HAYATE_PROFILE=1: named accumulators of seconds
// and counts, summed over the run and printed as one table on stderr when the process ends
// (or when print() is called). Host code times itself with Timer; a device backend adds the
// device time of its operations (measured with its own events) under "gpu ..." names.
// Off (the default), every call is one branch on a flag read once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hayate::profile {

// HAYATE_PROFILE set to anything but "" or "0"; read once.
bool enabled();
// Adds `seconds` (and `count` events) to the accumulator `name` (a string literal or one that
// lives as long as the program: accumulators keep the pointer's text).
void add(const char* name, double seconds, int64_t count = 1);
// The table: name, total seconds, count, mean milliseconds, share of the "engine step" total.
std::string report();
void reset();
// Writes the table to stderr under `title` and starts over (the serving engine does this each
// time it falls idle, so each burst of requests gets its own table).
void print_and_reset(const std::string& title);

// Times a scope into `name` when profiling is on.
class Timer {
 public:
  explicit Timer(const char* name) : name_(enabled() ? name : nullptr) {
    if (name_) t0_ = std::chrono::steady_clock::now();
  }
  ~Timer() { stop(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void stop() {
    if (!name_) return;
    add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    name_ = nullptr;
  }

 private:
  const char* name_;
  std::chrono::steady_clock::time_point t0_{};
};

}  // namespace hayate::profile
