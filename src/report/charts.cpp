// The report's charts, built from the result structs with the generic helpers of svg.h.
#include <algorithm>
#include <map>

#include "report/report.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

bool several(const std::vector<ResultFile>& files) { return files.size() > 1; }

std::string ms(double v) { return short_number(v) + " ms"; }

// Ordered, de-duplicated keys with a lookup from key to index.
struct KeyList {
  std::vector<std::string> keys;
  size_t index(const std::string& k) {
    auto it = std::find(keys.begin(), keys.end(), k);
    if (it != keys.end()) return static_cast<size_t>(it - keys.begin());
    keys.push_back(k);
    return keys.size() - 1;
  }
};

}  // namespace

std::string target_name(const ResultFile& file, const ServeTarget& target, bool several_files) {
  return several_files ? file.name + ": " + target.label : target.label;
}

std::string serve_throughput_chart(const std::vector<ResultFile>& files) {
  LineChart c;
  c.title = "Output throughput against concurrency";
  c.x_label = "concurrent requests";
  c.y_label = "output tokens/s";
  c.log_x = true;
  for (const ResultFile& f : files)
    for (const ServeTarget& t : f.targets) {
      LineSeries s{target_name(f, t, several(files)), series_color(c.series.size()), "", {}};
      for (const ServeRun& r : t.runs)
        if (r.mode == "concurrency" && r.concurrency && r.output_tokens_per_s)
          s.points.emplace_back(*r.concurrency, *r.output_tokens_per_s);
      std::sort(s.points.begin(), s.points.end());
      if (!s.points.empty()) c.series.push_back(std::move(s));
    }
  return c.series.empty() ? "" : line_chart(c);
}

// Colour per target, dash per percentile, so p50/p90/p99 of one server stay together.
std::string serve_latency_chart(const std::vector<ResultFile>& files, const std::string& metric) {
  LineChart c;
  c.title = (metric == "ttft" ? std::string("Time to first token") : std::string("End-to-end latency")) +
            " (p50 / p90 / p99) against concurrency";
  c.x_label = "concurrent requests";
  c.y_label = metric == "ttft" ? "TTFT (ms)" : "request latency (ms)";
  c.log_x = true;
  c.y_format = ms;
  struct Level {
    const char* name;
    const char* dash;
    std::optional<double> Percentiles::*field;
  };
  const Level levels[] = {
      {"p50", "", &Percentiles::p50}, {"p90", "7 4", &Percentiles::p90}, {"p99", "2 3", &Percentiles::p99}};
  size_t n_targets = 0;
  for (const ResultFile& f : files)
    for (const ServeTarget& t : f.targets) {
      bool any = false;
      const std::string name = target_name(f, t, several(files));
      for (const Level& level : levels) {
        LineSeries s{name + " " + level.name, series_color(n_targets), level.dash, {}};
        for (const ServeRun& r : t.runs) {
          const Percentiles& p = metric == "ttft" ? r.ttft : r.e2e;
          if (r.mode == "concurrency" && r.concurrency && p.*level.field)
            s.points.emplace_back(*r.concurrency, *(p.*level.field));
        }
        std::sort(s.points.begin(), s.points.end());
        if (!s.points.empty()) c.series.push_back(std::move(s)), any = true;
      }
      if (any) c.legend.push_back({name, series_color(n_targets), ""});
      n_targets += any;
    }
  for (const Level& level : levels) c.legend.push_back({level.name, "#5d6470", level.dash});
  return c.series.empty() ? "" : line_chart(c);
}

// One CDF per target, one curve per concurrency level: mixing levels in one curve would hide
// exactly the queueing the chart is meant to show.
std::vector<std::string> ttft_cdf_charts(const std::vector<ResultFile>& files) {
  std::vector<std::string> out;
  for (const ResultFile& f : files)
    for (const ServeTarget& t : f.targets) {
      LineChart c;
      c.title = "TTFT distribution (CDF) · " + target_name(f, t, several(files));
      c.x_label = "time to first token (ms)";
      c.y_label = "share of requests";
      c.x_format = ms;
      c.y_format = [](double v) { return short_number(v * 100) + "%"; };
      c.y_max = 1;
      c.markers = false;
      for (const ServeRun& r : t.runs) {
        if (r.ttft_samples_ms.empty()) continue;
        std::vector<double> v = r.ttft_samples_ms;
        std::sort(v.begin(), v.end());
        std::string name = r.mode;
        if (r.concurrency)
          name = "concurrency " + short_number(*r.concurrency);
        else if (r.rate_rps)
          name = short_number(*r.rate_rps) + " req/s";
        LineSeries s{name + " (n=" + std::to_string(v.size()) + ")", series_color(c.series.size()), "", {}};
        const double n = static_cast<double>(v.size());
        s.points.emplace_back(v.front(), 0);
        for (size_t i = 0; i < v.size(); ++i) {  // a step: the share jumps at each sample
          s.points.emplace_back(v[i], static_cast<double>(i) / n);
          s.points.emplace_back(v[i], static_cast<double>(i + 1) / n);
        }
        c.series.push_back(std::move(s));
      }
      if (!c.series.empty()) out.push_back(line_chart(c));
    }
  return out;
}

std::string model_speed_chart(const std::vector<ResultFile>& files, bool prompt) {
  BarChart c;
  c.title = prompt ? "Prompt processing speed (pp) per model · format · backend"
                   : "Generation speed (tg) per model · format · backend";
  c.y_label = "tokens/s (mean ± stddev)";
  KeyList groups, series;
  std::map<std::pair<size_t, size_t>, std::pair<double, double>> cell;
  for (const ResultFile& f : files)
    for (const ModelRow& r : f.rows) {
      if (r.is_prompt() != prompt) continue;
      const size_t g = groups.index(r.config());
      const size_t s = series.index(several(files) ? f.name + ": " + r.test : r.test);
      cell[{s, g}] = {r.avg_ts, r.stddev_ts};
    }
  if (groups.keys.empty()) return "";
  c.groups = groups.keys;
  for (size_t s = 0; s < series.keys.size(); ++s) {
    BarSeries bs{series.keys[s], series_color(s), std::vector<std::optional<double>>(c.groups.size()),
                 std::vector<double>(c.groups.size(), 0)};
    for (size_t g = 0; g < c.groups.size(); ++g)
      if (auto it = cell.find({s, g}); it != cell.end())
        bs.values[g] = it->second.first, bs.errors[g] = it->second.second;
    c.series.push_back(std::move(bs));
  }
  return bar_chart(c);
}

// Peak resident memory per configuration (model bench: the largest over its tests; serve: the
// largest resource sample of the server process), beside the model file size where known.
std::string memory_chart(const std::vector<ResultFile>& files) {
  BarChart c;
  c.title = "Memory per configuration";
  std::vector<std::optional<double>> rss, file_size, gpu;
  KeyList groups;
  auto put = [&](const std::string& key, std::optional<double> r, std::optional<double> fs, std::optional<double> g) {
    const size_t i = groups.index(key);
    rss.resize(groups.keys.size()), file_size.resize(groups.keys.size()), gpu.resize(groups.keys.size());
    auto keep_max = [](std::optional<double>& slot, std::optional<double> v) {
      if (v && (!slot || *v > *slot)) slot = v;
    };
    keep_max(rss[i], r), keep_max(file_size[i], fs), keep_max(gpu[i], g);
  };
  for (const ResultFile& f : files) {
    for (const ModelRow& r : f.rows)
      put(r.config(), r.rss_peak_bytes ? std::optional<double>(r.rss_peak_bytes) : std::nullopt,
          r.model_size_bytes ? std::optional<double>(r.model_size_bytes) : std::nullopt,
          r.gpu_memory_bytes ? std::optional<double>(*r.gpu_memory_bytes) : std::nullopt);
    for (const ServeTarget& t : f.targets)
      for (const ServeRun& run : t.runs)
        if (run.peak_rss_bytes || run.peak_gpu_mem_bytes)
          put("server · " + target_name(f, t, several(files)),
              run.peak_rss_bytes ? std::optional<double>(*run.peak_rss_bytes) : std::nullopt, std::nullopt,
              run.peak_gpu_mem_bytes ? std::optional<double>(*run.peak_gpu_mem_bytes) : std::nullopt);
  }
  if (groups.keys.empty()) return "";
  c.groups = groups.keys;
  // Bars in MiB or GiB, so the ticks are round numbers of the unit on the axis.
  double largest = 0;
  for (const auto* v : {&rss, &file_size, &gpu})
    for (const auto& x : *v) largest = std::max(largest, x.value_or(0));
  const bool gib = largest >= 4.0 * 1024 * 1024 * 1024;
  const double unit = gib ? 1024.0 * 1024 * 1024 : 1024.0 * 1024;
  c.y_label = gib ? "GiB" : "MiB";
  c.y_format = [gib](double v) { return short_number(v) + (gib ? " GiB" : " MiB"); };
  auto add = [&](const std::string& name, std::vector<std::optional<double>> v) {
    if (std::none_of(v.begin(), v.end(), [](const auto& x) { return x.has_value(); })) return;
    for (auto& x : v)
      if (x) *x /= unit;
    c.series.push_back({name, series_color(c.series.size()), std::move(v), {}});
  };
  add("peak resident memory", rss);
  add("model file", file_size);
  add("GPU memory", gpu);
  return c.series.empty() ? "" : bar_chart(c);
}

}  // namespace hayate::report
