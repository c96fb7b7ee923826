// The server's Prometheus metrics: counters and histograms updated as requests run, and gauges
// read from EngineStats when /metrics is scraped. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "engine/engine.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace hayate::server {

class Metrics {
 public:
  Metrics();
  ~Metrics();

  void request_done(const std::string& route, int status, double seconds);
  void first_token(double seconds_since_arrival);
  void inter_token(double seconds);
  void tokens(int64_t prompt, int64_t generated);
  void model_loaded(double seconds);
  void write_timeout();
  // A limit against hostile clients fired: header_bytes, header_count, header_timeout,
  // body_timeout, bad_framing, connections, connections_per_ip.
  void limit_hit(const char* limit);
  // Time of one retrieval stage: "embed", "search" or "generation" of a RAG chat; "ingest_embed"
  // or "ingest_store" of a document upload.
  void rag_stage(const char* stage, double seconds);
  // The micro-batcher handed `requests` engine requests over together.
  void micro_batch(size_t requests);

  // The text exposition format, gauges refreshed from `stats` and `health` (null while no model is
  // loaded).
  std::string scrape(const EngineStats* stats, const EngineHealth* health = nullptr);
  // For other metric sets of the server (compression.h) to register on.
  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Histogram *duration_, *ttft_, *itl_;
  prometheus::Counter *prompt_tokens_, *generation_tokens_;
  prometheus::Counter *prefix_hit_, *prefix_miss_;
  prometheus::Gauge *queue_depth_, *running_, *batch_size_, *kv_used_, *kv_free_, *kv_cached_, *hit_ratio_;
  prometheus::Gauge *load_seconds_, *kv_active_, *batch_sequences_, *engine_healthy_;
  prometheus::Counter* write_timeouts_;
  prometheus::Family<prometheus::Counter>* limit_hits_;
  prometheus::Family<prometheus::Histogram>* rag_stages_;
  prometheus::Histogram* micro_batch_size_;
  prometheus::Counter* micro_batches_;
  prometheus::Counter* finished_[4];  // stop, length, cancelled, error

  // The engine's counters as of the last scrape, to add their growth to ours.
  struct Follower {
    prometheus::Counter* counter;
    int64_t seen = 0;
    void follow(int64_t total);
  };
  std::mutex scrape_mu_;
  Follower hit_{}, miss_{}, by_reason_[4]{}, stalls_{};
};

// The caches' metrics in the text exposition format, one label per cache: hits, misses, stores,
// entries, bytes, evictions, expiries, whether its store answers, and the lookup latency as a
// histogram. Written from the caches' own counters at each scrape.
std::string cache_metrics_text(const std::vector<cache::CacheStats>& caches);

}  // namespace hayate::server
