// Elapsed wall time for timings and reports (steady clock: never jumps with the date), and the
// UTC date stamp results carry.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace hayate {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Now as "2026-12-07T01:02:03Z", the form results and reports record their start in.
inline std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace hayate
