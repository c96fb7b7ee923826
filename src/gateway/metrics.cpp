#include "gateway/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

namespace hayate::gateway {
namespace {

prometheus::Family<prometheus::Counter>& counters(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

const prometheus::Histogram::BucketBoundaries kSeconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                          0.25,   0.5,   1,      2.5,   5,    10,    30,   120};

}  // namespace

GatewayMetrics::GatewayMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  requests_ = &counters(r, "hayate_gateway_requests_total", "requests answered by the gateway, by route and status");
  duration_ = &prometheus::BuildHistogram()
                   .Name("hayate_gateway_request_duration_seconds")
                   .Help("time from a request's arrival to its last byte")
                   .Register(r)
                   .Add({}, kSeconds);
  upstream_requests_ =
      &counters(r, "hayate_gateway_upstream_requests_total", "attempts sent to each upstream that it answered");
  latency_ = &prometheus::BuildHistogram()
                  .Name("hayate_gateway_upstream_latency_seconds")
                  .Help("time from sending a request upstream to its answer's head (streams: first byte)")
                  .Register(r);
  errors_ = &counters(r, "hayate_gateway_upstream_errors_total",
                      "failed attempts per upstream, by kind (connect, closed, timeout, protocol, status)");
  retries_ = &counters(r, "hayate_gateway_upstream_retries_total", "attempts that retried a failed one, per upstream");
  ejections_ = &counters(r, "hayate_gateway_upstream_ejections_total", "times an upstream's circuit opened");
  in_flight_ = &prometheus::BuildGauge()
                    .Name("hayate_gateway_upstream_in_flight")
                    .Help("requests in flight to each upstream")
                    .Register(r);
  up_ = &prometheus::BuildGauge()
             .Name("hayate_gateway_upstream_up")
             .Help("1 while an upstream takes requests (healthy, circuit closed), else 0")
             .Register(r);
  fallbacks_ = &counters(r, "hayate_gateway_fallbacks_total", "requests passed down a model's fallback chain");
  refused_ =
      &counters(r, "hayate_gateway_refused_total", "requests refused (unauthorized, rate_limited, quota_exceeded)");
  tokens_ = &counters(r, "hayate_gateway_tokens_total", "prompt + completion tokens by API key name");
  auto& cache = counters(r, "hayate_gateway_cache_requests_total", "cacheable requests, by result (hit, miss)");
  cache_hits_ = &cache.Add({{"result", "hit"}});
  cache_misses_ = &cache.Add({{"result", "miss"}});
  auto& affinity =
      counters(r, "hayate_gateway_affinity_total", "requests routed by prompt prefix (hit) or by load alone (miss)");
  affinity_hits_ = &affinity.Add({{"result", "hit"}});
  affinity_misses_ = &affinity.Add({{"result", "miss"}});
}

GatewayMetrics::~GatewayMetrics() = default;

void GatewayMetrics::request_done(const std::string& route, int status, double seconds) {
  requests_->Add({{"route", route}, {"status", std::to_string(status)}}).Increment();
  duration_->Observe(seconds);
}

void GatewayMetrics::upstream_answered(const Upstream& u, double seconds) {
  upstream_requests_->Add({{"upstream", u.name()}}).Increment();
  latency_->Add({{"upstream", u.name()}}, kSeconds).Observe(seconds);
}

void GatewayMetrics::upstream_error(const Upstream& u, const char* kind) {
  errors_->Add({{"upstream", u.name()}, {"kind", kind}}).Increment();
}

void GatewayMetrics::retry(const Upstream& u) { retries_->Add({{"upstream", u.name()}}).Increment(); }
void GatewayMetrics::ejected(const Upstream& u) { ejections_->Add({{"upstream", u.name()}}).Increment(); }

void GatewayMetrics::fallback(const std::string& from, const std::string& to) {
  fallbacks_->Add({{"from", from}, {"to", to}}).Increment();
}

void GatewayMetrics::cache(bool hit) { (hit ? cache_hits_ : cache_misses_)->Increment(); }
void GatewayMetrics::affinity(bool hit) { (hit ? affinity_hits_ : affinity_misses_)->Increment(); }
void GatewayMetrics::refused(const char* why) { refused_->Add({{"reason", why}}).Increment(); }

void GatewayMetrics::tokens(const std::string& key_name, int64_t n) {
  if (n > 0) tokens_->Add({{"key", key_name}}).Increment(static_cast<double>(n));
}

std::string GatewayMetrics::scrape(const std::vector<Upstream*>& upstreams) {
  const auto now = Clock::now();
  for (const Upstream* u : upstreams) {
    in_flight_->Add({{"upstream", u->name()}}).Set(u->outstanding());
    up_->Add({{"upstream", u->name()}}).Set(u->state(now) == Upstream::State::Up ? 1 : 0);
    // Zero-valued series exist from the start, so a dashboard's rate() has a baseline.
    retries_->Add({{"upstream", u->name()}});
    ejections_->Add({{"upstream", u->name()}});
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace hayate::gateway
