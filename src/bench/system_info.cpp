#include "bench/system_info.h"

#include <ctime>
#include <fstream>
#include <thread>

#include "core/clock.h"
#include "quant/quant.h"

namespace hayate::bench {
namespace {

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

std::string read_cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    const size_t colon = line.find(':');
    if (colon != std::string::npos && trim(line.substr(0, colon)) == "model name") return trim(line.substr(colon + 1));
  }
  return "";
}

std::vector<double> read_load_average() {
  std::ifstream f("/proc/loadavg");
  std::vector<double> out(3);
  if (!(f >> out[0] >> out[1] >> out[2])) out.clear();
  return out;
}

}  // namespace

SystemInfo collect_system_info() {
  SystemInfo s;
  s.cpu_model = read_cpu_model();
  s.cpu_features = quant::cpu_features();
  s.n_cpus = static_cast<int>(std::thread::hardware_concurrency());
  s.load_average = read_load_average();
  s.timestamp = utc_timestamp();
  return s;
}

bool reset_peak_resident_memory() {
  // "5" resets the high-water mark (proc(5), clear_refs).
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace hayate::bench
