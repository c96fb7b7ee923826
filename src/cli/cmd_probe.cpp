// `hayate bench probe`: call each endpoint N times; latency and success rate per endpoint and
// overall, as a table and JSON (bench/probe.h).
#include <fstream>
#include <iostream>

#include "bench/probe.h"
#include "cli/common.h"
#include "core/error.h"

namespace hayate::cli {

void add_bench_probe_command(CLI::App* bench) {
  struct Options {
    std::vector<std::string> urls;
    std::vector<std::pair<std::string, std::string>> posts;
    bench::ProbeConfig config;
    std::string out;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = bench->add_subcommand("probe",
                                        "endpoint monitor: call each endpoint N times; avg/min/max/p95 latency and "
                                        "success rate, per endpoint and overall");
  cmd->add_option("--url", o->urls, "an endpoint called with GET, http://HOST:PORT/PATH (repeatable)");
  cmd->add_option("--post", o->posts, "an endpoint called with POST of this JSON: --post URL JSON (repeatable)");
  cmd->add_option("-n,--calls", o->config.calls, "calls per endpoint")->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", o->config.timeout, "seconds per call");
  cmd->add_option("--api-key", o->config.api_key, "bearer key (default: $HAYATE_API_KEY)");
  cmd->add_option("--out", o->out, "write the results JSON to this file");
  cmd->callback([o] {
    if (o->urls.empty() && o->posts.empty())
      fail(ErrorKind::BadInput, "no endpoint: give --url URL or --post URL JSON");
    if (o->config.api_key.empty())
      if (const char* k = std::getenv("HAYATE_API_KEY")) o->config.api_key = k;
    for (const std::string& url : o->urls) o->config.endpoints.push_back({url, ""});
    for (const auto& [url, body] : o->posts) o->config.endpoints.push_back({url, body});
    const auto results = bench::probe(o->config);
    std::cout << bench::probe_table(results);
    const std::string json = bench::probe_json(results).dump(2);
    if (!o->out.empty()) {
      std::ofstream f(o->out);
      f << json << "\n";
      if (!f) fail(ErrorKind::BadInput, o->out + ": cannot write the results");
    }
    if (results.back().ok < results.back().calls) std::exit(1);  // a failure shows in the exit status
  });
}

}  // namespace hayate::cli
