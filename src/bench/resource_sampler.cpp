#include "bench/resource_sampler.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

namespace hayate::bench {

void ProcessProbe::sample(ResourceSample& s) {
  const std::string dir = "/proc/" + std::to_string(pid_);
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  // The command name (field 2) may hold spaces and parentheses; the fields after it start after
  // the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string w; rest >> w;) f.push_back(w);
  if (f.size() < 22) return;
  // Fields 14 and 15 (utime, stime) are f[11], f[12]; field 24 (rss, pages) is f[21].
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double cpu_s = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  s.cpu_time_s = cpu_s;
  s.rss_bytes = std::stoull(f[21]) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto now = std::chrono::steady_clock::now();
  if (last_cpu_s_) {
    const double wall = std::chrono::duration<double>(now - last_at_).count();
    if (wall > 0) s.cpu_pct = 100.0 * (cpu_s - *last_cpu_s_) / wall;
  }
  last_cpu_s_ = cpu_s;
  last_at_ = now;
}

std::unique_ptr<Nvml> Nvml::open(std::string& why, const char* library) {
  auto gpus = GpuStats::open(library, why);
  if (!gpus) {
    why += ": GPU sampling skipped";
    return nullptr;
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(gpus)));
}

void Nvml::sample(ResourceSample& s) {
  const std::vector<GpuReading> gpus = gpus_->read();
  if (gpus.empty()) return;
  double util = 0, mem_util = 0;
  uint64_t mem = 0;
  std::optional<double> power, hottest;
  for (const GpuReading& g : gpus) {
    util += 100.0 * g.utilization, mem_util += 100.0 * g.memory_utilization, mem += g.memory_used;
    if (g.power_w) power = power.value_or(0) + *g.power_w;
    if (g.temperature_c) hottest = std::max(hottest.value_or(0), *g.temperature_c);
  }
  s.gpu_util_pct = util / static_cast<double>(gpus.size());
  s.gpu_mem_util_pct = mem_util / static_cast<double>(gpus.size());
  s.gpu_mem_bytes = mem;
  s.gpu_power_w = power;
  s.gpu_temp_c = hottest;
}

namespace {

// The mean of a field over the samples that have it, each weighted by the time to the next
// sample that has it (the last one by the average gap), so a sampler that fell behind does not
// tilt the mean toward the quiet end of a run.
std::optional<double> time_weighted_mean(const std::vector<ResourceSample>& samples,
                                         std::optional<double> ResourceSample::*field) {
  std::vector<std::pair<double, double>> pts;
  for (const ResourceSample& s : samples)
    if (s.*field) pts.emplace_back(s.t_s, *(s.*field));
  if (pts.empty()) return std::nullopt;
  if (pts.size() == 1) return pts[0].second;
  double area = 0, span = 0;
  for (size_t i = 0; i + 1 < pts.size(); ++i) {
    const double dt = std::max(0.0, pts[i + 1].first - pts[i].first);
    area += dt * 0.5 * (pts[i].second + pts[i + 1].second);
    span += dt;
  }
  if (span <= 0) {
    double sum = 0;
    for (const auto& p : pts) sum += p.second;
    return sum / static_cast<double>(pts.size());
  }
  return area / span;
}

}  // namespace

ResourceSummary summarize_resources(const std::vector<ResourceSample>& samples, double duration_s,
                                    int64_t output_tokens, double output_tokens_per_s) {
  ResourceSummary r;
  std::optional<double> first_cpu, last_cpu;
  for (const ResourceSample& s : samples) {
    if (s.rss_bytes) r.peak_rss_bytes = std::max(r.peak_rss_bytes.value_or(0), *s.rss_bytes);
    if (s.gpu_mem_bytes) r.peak_gpu_mem_bytes = std::max(r.peak_gpu_mem_bytes.value_or(0), *s.gpu_mem_bytes);
    if (s.gpu_temp_c) r.peak_gpu_temp_c = std::max(r.peak_gpu_temp_c.value_or(-273.0), *s.gpu_temp_c);
    if (s.cpu_time_s) {
      if (!first_cpu) first_cpu = s.cpu_time_s;
      last_cpu = s.cpu_time_s;
    }
  }
  if (first_cpu) r.cpu_time_s = *last_cpu - *first_cpu;
  r.mean_gpu_util_pct = time_weighted_mean(samples, &ResourceSample::gpu_util_pct);
  r.mean_gpu_mem_util_pct = time_weighted_mean(samples, &ResourceSample::gpu_mem_util_pct);
  r.mean_gpu_power_w = time_weighted_mean(samples, &ResourceSample::gpu_power_w);
  if (r.mean_gpu_power_w && duration_s > 0) {
    r.energy_j = *r.mean_gpu_power_w * duration_s;
    if (output_tokens > 0) r.energy_per_output_token_j = *r.energy_j / static_cast<double>(output_tokens);
  }
  const std::optional<uint64_t> memory = r.peak_gpu_mem_bytes ? r.peak_gpu_mem_bytes : r.peak_rss_bytes;
  if (memory && *memory > 0) {
    r.memory_basis = r.peak_gpu_mem_bytes ? "gpu" : "rss";
    r.output_tokens_per_s_per_gb = output_tokens_per_s / (static_cast<double>(*memory) / 1e9);
  }
  return r;
}

}  // namespace hayate::bench
