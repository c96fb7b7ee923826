// `hayate bench probe`: the endpoint monitor of the orchestrator seed's performance script. Each
// endpoint is called N times in turn; per endpoint and overall: latency avg/min/max/p50/p95 of
// the calls that succeeded (2xx), and the success rate.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/stats.h"

namespace hayate::bench {

struct ProbeEndpoint {
  std::string url;   // http://HOST:PORT/PATH (the path is called as it is)
  std::string body;  // "" : GET; else POST of this JSON
};

struct ProbeConfig {
  std::vector<ProbeEndpoint> endpoints;
  int calls = 10;       // per endpoint
  double timeout = 30;  // seconds per call
  std::string api_key;  // sent as Bearer when not empty
};

struct ProbeResult {
  std::string url;  // "overall" for the sum
  int calls = 0, ok = 0;
  Percentiles latency_ms;           // of the successful calls
  std::vector<std::string> errors;  // the first few failures, said
};

// One result per endpoint, then the overall one. Error(BadInput) for a URL that is not http://.
std::vector<ProbeResult> probe(const ProbeConfig& config);
nlohmann::json probe_json(const std::vector<ProbeResult>& results);
std::string probe_table(const std::vector<ProbeResult>& results);  // Markdown

}  // namespace hayate::bench
