// Elapsed wall time for timings and reports (steady clock: never jumps with the date).
#pragma once

#include <chrono>

namespace hayate {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace hayate
