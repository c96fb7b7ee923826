// A reader of the Prometheus text exposition format (what a /metrics route answers), so that a
// benchmark can read the server's own counters (hayate_requests_total, ...) before and after a run.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::bench {

struct MetricSample {
  std::string name;                           // e.g. "hayate_requests_total"
  std::map<std::string, std::string> labels;  // e.g. {"route": "/v1/completions", "status": "200"}
  double value = 0;                           // NaN, +Inf and -Inf as the format spells them
};

// Every sample line; # HELP / # TYPE / other comments and blank lines are skipped. Throws
// hayate::Error(BadInput) naming the line number and what is wrong ("line 7: expected '=' after
// label name \"route\"").
std::vector<MetricSample> parse_prometheus_text(std::string_view text);

// The sum of the samples named `name` whose labels include every pair in `match` (an empty match
// sums them all); 0 when none match.
double sum_samples(const std::vector<MetricSample>& samples, std::string_view name,
                   const std::map<std::string, std::string>& match = {});

// True when some sample's name starts with "hayate_" (the server is hayate).
bool has_hayate_metrics(const std::vector<MetricSample>& samples);

}  // namespace hayate::bench
