#include "bench/probe.h"

#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "net/blocking_client.h"

namespace hayate::bench {

std::vector<ProbeResult> probe(const ProbeConfig& config) {
  std::vector<ProbeResult> out;
  std::vector<double> all_ms;
  ProbeResult overall;
  overall.url = "overall";
  for (const ProbeEndpoint& e : config.endpoints) {
    const net::Url url = net::parse_url(e.url);  // the base is the path called
    net::Url root = url;
    root.base.clear();
    net::ClientOptions options;
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.timeout * 1000));
    net::Client client(net::resolve(root), options);
    ProbeResult r;
    r.url = e.url;
    std::vector<double> ms;
    for (int i = 0; i < config.calls; ++i) {
      net::Headers headers;
      if (!config.api_key.empty()) headers.emplace_back("authorization", "Bearer " + config.api_key);
      if (!e.body.empty()) headers.emplace_back("content-type", "application/json");
      const auto t0 = std::chrono::steady_clock::now();
      std::string failure;  // empty: a 2xx answer
      try {
        const net::Response res =
            client.request({e.body.empty() ? "GET" : "POST", url.base.empty() ? "/" : url.base, headers, e.body});
        if (res.status < 200 || res.status >= 300) failure = "status " + std::to_string(res.status);
      } catch (const Error& err) {  // no connection, a timeout, not HTTP: a failed call, not the end
        failure = err.what();
      }
      const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++r.calls;
      if (failure.empty()) {
        ++r.ok;
        ms.push_back(elapsed);
      } else if (r.errors.size() < 5) {
        r.errors.push_back(failure);
      }
    }
    r.latency_ms = percentiles(ms);
    all_ms.insert(all_ms.end(), ms.begin(), ms.end());
    overall.calls += r.calls;
    overall.ok += r.ok;
    out.push_back(std::move(r));
  }
  overall.latency_ms = percentiles(all_ms);
  out.push_back(std::move(overall));
  return out;
}

nlohmann::json probe_json(const std::vector<ProbeResult>& results) {
  nlohmann::json list = nlohmann::json::array();
  for (const ProbeResult& r : results) {
    const Percentiles& p = r.latency_ms;
    list.push_back({{"endpoint", r.url},
                    {"calls", r.calls},
                    {"ok", r.ok},
                    {"success_rate", r.calls ? static_cast<double>(r.ok) / r.calls : 0.0},
                    {"latency_ms", {{"avg", p.mean}, {"min", p.min}, {"max", p.max}, {"p50", p.p50}, {"p95", p.p95}}},
                    {"errors", r.errors}});
  }
  return {{"probe", list}};
}

std::string probe_table(const std::vector<ProbeResult>& results) {
  std::string out =
      "| endpoint | ok/calls | success | avg ms | min ms | max ms | p95 ms |\n| --- | ---: | ---: | ---: | ---: | ---: "
      "| ---: |\n";
  char line[512];
  for (const ProbeResult& r : results) {
    const Percentiles& p = r.latency_ms;
    std::snprintf(line, sizeof line, "| %s | %d/%d | %.1f%% | %.2f | %.2f | %.2f | %.2f |\n", r.url.c_str(), r.ok,
                  r.calls, r.calls ? 100.0 * r.ok / r.calls : 0.0, p.mean, p.min, p.max, p.p95);
    out += line;
  }
  return out;
}

}  // namespace hayate::bench
