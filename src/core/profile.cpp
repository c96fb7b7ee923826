#include "core/profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace hayate::profile {
namespace {

struct Slot {
  double seconds = 0;
  int64_t count = 0;
};

struct Table {
  std::mutex mu;
  std::map<std::string, Slot> slots;
};

Table& table() {
  static Table* t = new Table;  // never destroyed: the exit hook reads it after statics die
  return *t;
}

void print_at_exit() { std::fputs(report().c_str(), stderr); }

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("HAYATE_PROFILE");
    const bool yes = v && *v && std::strcmp(v, "0") != 0;
    if (yes) std::atexit(print_at_exit);
    return yes;
  }();
  return on;
}

void add(const char* name, double seconds, int64_t count) {
  if (!enabled()) return;
  Table& t = table();
  std::lock_guard lk(t.mu);
  Slot& s = t.slots[name];
  s.seconds += seconds;
  s.count += count;
}

std::string report() {
  Table& t = table();
  std::lock_guard lk(t.mu);
  if (t.slots.empty()) return {};
  std::vector<std::pair<std::string, Slot>> rows(t.slots.begin(), t.slots.end());
  // Host rows, then device rows, each by total time: the larger costs first.
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    const bool ga = a.first.rfind("gpu ", 0) == 0, gb = b.first.rfind("gpu ", 0) == 0;
    return ga != gb ? gb : a.second.seconds > b.second.seconds;
  });
  const auto step = t.slots.find("engine step");
  const double total = step != t.slots.end() ? step->second.seconds : 0;
  std::string out = "\nHAYATE_PROFILE (seconds summed over the run; share of 'engine step')\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %10s %10s %10s %7s\n", "what", "total s", "count", "mean ms", "share");
  out += line;
  for (const auto& [name, s] : rows) {
    const double mean_ms = s.count ? 1e3 * s.seconds / static_cast<double>(s.count) : 0;
    const double share = total > 0 ? 100.0 * s.seconds / total : 0;
    std::snprintf(line, sizeof line, "%-36s %10.4f %10lld %10.4f %6.1f%%\n", name.c_str(), s.seconds,
                  static_cast<long long>(s.count), mean_ms, share);
    out += line;
  }
  return out;
}

void print_and_reset(const std::string& title) {
  std::string text = report();
  reset();
  if (text.empty()) return;
  text.insert(0, "\n" + title);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

void reset() {
  Table& t = table();
  std::lock_guard lk(t.mu);
  t.slots.clear();
}

}  // namespace hayate::profile
