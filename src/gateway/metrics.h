// The gateway's Prometheus metrics (its own /metrics): requests by route and status, and per
// upstream latency, errors, retries, ejections, requests in flight and state; fallbacks, cache and
// affinity hits, refused requests, tokens by key. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "gateway/upstreams.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace hayate::gateway {

class GatewayMetrics {
 public:
  GatewayMetrics();
  ~GatewayMetrics();

  void request_done(const std::string& route, int status, double seconds);
  // An answer began (head of a whole response or first byte of a stream) after this long.
  void upstream_answered(const Upstream& u, double seconds);
  // kind: connect, closed, timeout, protocol, status (a 5xx or 429)
  void upstream_error(const Upstream& u, const char* kind);
  void retry(const Upstream& u);
  void ejected(const Upstream& u);
  void fallback(const std::string& from, const std::string& to);
  void cache(bool hit);
  void affinity(bool hit);
  void refused(const char* why);  // unauthorized, rate_limited, quota_exceeded
  void tokens(const std::string& key_name, int64_t n);

  // The exposition text, with the per-upstream gauges (in flight, state) read from `upstreams`.
  std::string scrape(const std::vector<Upstream*>& upstreams);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>*requests_, *upstream_requests_, *errors_, *retries_, *ejections_, *fallbacks_,
      *refused_, *tokens_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Gauge>*in_flight_, *up_;
  prometheus::Histogram* duration_;
  prometheus::Counter *cache_hits_, *cache_misses_, *affinity_hits_, *affinity_misses_;
};

}  // namespace hayate::gateway
