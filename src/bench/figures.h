// The figures `hayate bench serve` reports for a set of requests (a run, or one period of a soak
// run), shared by the runner (serve_bench.h) and the soak's bookkeeping (soak.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "bench/stats.h"

namespace hayate::bench {

struct ErrorCounts {
  int64_t http_4xx = 0, http_5xx = 0, http_429 = 0, timeout = 0, connect = 0, protocol = 0;
  int64_t total() const { return http_4xx + http_5xx + http_429 + timeout + connect + protocol; }
};

struct RunFigures {
  int64_t sent = 0, ok = 0, cancelled = 0;
  ErrorCounts errors;
  int64_t prompt_tokens = 0, output_tokens = 0;  // of the requests that succeeded
  double requests_per_s = 0, output_tokens_per_s = 0, total_tokens_per_s = 0;
  Percentiles ttft, tpot, itl, e2e;
  // Of the successful requests whose answers carry a "timings" object (RAG chat): each stage.
  std::map<std::string, Percentiles> stages;
};

// What the server looked like at a soak snapshot.
struct ServerProbe {
  std::optional<uint64_t> rss_bytes;       // /proc/PID/stat (needs --pid)
  std::optional<int64_t> open_fds;         // /proc/PID/fd
  std::optional<double> kv_blocks_active;  // hayate's /metrics
};

struct Snapshot {
  double t_s = 0;  // end of the period, since the run started
  RunFigures figures;
  ServerProbe server;  // soak mode
};

}  // namespace hayate::bench
