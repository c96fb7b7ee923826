#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

namespace hayate::server {
namespace {

using prometheus::Histogram;

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

Histogram& histogram(prometheus::Registry& r, const char* name, const char* help, Histogram::BucketBoundaries b) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(r).Add({}, std::move(b));
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  requests_ = &prometheus::BuildCounter()
                   .Name("hayate_requests_total")
                   .Help("HTTP requests answered, by route and status")
                   .Register(r);
  duration_ = &histogram(r, "hayate_request_duration_seconds", "time from a request's arrival to its last byte",
                         {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300});
  ttft_ = &histogram(r, "hayate_time_to_first_token_seconds", "time from a request's arrival to its first token",
                     {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  itl_ = &histogram(r, "hayate_inter_token_latency_seconds", "time between successive tokens of one sequence",
                    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  prompt_tokens_ = &counter(r, "hayate_prompt_tokens_total", "prompt tokens of accepted requests");
  generation_tokens_ = &counter(r, "hayate_generation_tokens_total", "tokens generated for clients");
  prefix_hit_ = &counter(r, "hayate_prefix_cache_hit_tokens_total", "prompt tokens whose KV came from the cache");
  prefix_miss_ = &counter(r, "hayate_prefix_cache_miss_tokens_total", "prompt tokens the cache did not have");
  queue_depth_ = &gauge(r, "hayate_queue_depth", "requests waiting for a slot");
  running_ = &gauge(r, "hayate_running_sequences", "sequences being decoded");
  batch_size_ = &gauge(r, "hayate_batch_size", "tokens in the last forward step");
  kv_used_ = &gauge(r, "hayate_kv_blocks_used", "KV cache blocks in use (sequences and the prefix cache)");
  kv_free_ = &gauge(r, "hayate_kv_blocks_free", "KV cache blocks free");
  kv_cached_ = &gauge(r, "hayate_kv_blocks_cached", "KV cache blocks held by the prefix cache");
  hit_ratio_ = &gauge(r, "hayate_prefix_cache_hit_ratio", "hit tokens / (hit + miss tokens) since start");
  load_seconds_ = &gauge(r, "hayate_model_load_seconds", "time the model took to load");
  kv_active_ = &gauge(r, "hayate_kv_blocks_active",
                      "KV cache blocks held by sequences (0 when none runs; blocks only the prefix cache holds are "
                      "reclaimable and not counted)");
  batch_sequences_ = &gauge(r, "hayate_batch_sequences", "sequences in the last forward step");
  engine_healthy_ = &gauge(r, "hayate_engine_healthy", "1 while the engine loop runs and makes progress, else 0");
  stalls_.counter = &counter(r, "hayate_engine_stalls_total",
                             "times the engine loop made no progress for engine_stall_timeout (its requests ended "
                             "with 503)");
  write_timeouts_ = &counter(r, "hayate_write_timeouts_total",
                             "connections cut off because the client read nothing for write_timeout seconds");
  limit_hits_ = &prometheus::BuildCounter()
                     .Name("hayate_limit_hits_total")
                     .Help("requests or connections refused by a limit against hostile clients, by limit")
                     .Register(r);
  rag_stages_ = &prometheus::BuildHistogram()
                     .Name("hayate_rag_stage_seconds")
                     .Help("time of each retrieval stage (embed, search, generation; ingest_embed, ingest_store)")
                     .Register(r);
  micro_batch_size_ =
      &histogram(r, "hayate_micro_batch_size", "engine requests the micro-batcher handed over together, per batch",
                 {1, 2, 3, 4, 6, 8, 12, 16, 32, 64});
  micro_batches_ = &counter(r, "hayate_micro_batches_total", "batches the micro-batcher handed to the engine");
  auto& finished = prometheus::BuildCounter()
                       .Name("hayate_sequences_finished_total")
                       .Help("engine sequences ended, by reason (stop, length, cancelled, error)")
                       .Register(r);
  const char* reasons[4] = {"stop", "length", "cancelled", "error"};
  for (int i = 0; i < 4; ++i) {
    finished_[i] = &finished.Add({{"reason", reasons[i]}});
    by_reason_[i].counter = finished_[i];
  }
  hit_.counter = prefix_hit_;
  miss_.counter = prefix_miss_;
}

void Metrics::Follower::follow(int64_t total) {
  if (total > seen) counter->Increment(static_cast<double>(total - seen));
  seen = std::max(seen, total);
}

void Metrics::write_timeout() { write_timeouts_->Increment(); }

void Metrics::limit_hit(const char* limit) { limit_hits_->Add({{"limit", limit}}).Increment(); }

Metrics::~Metrics() = default;

void Metrics::request_done(const std::string& route, int status, double seconds) {
  requests_->Add({{"route", route}, {"status", std::to_string(status)}}).Increment();
  duration_->Observe(seconds);
}

void Metrics::first_token(double seconds) { ttft_->Observe(seconds); }

void Metrics::micro_batch(size_t requests) {
  micro_batch_size_->Observe(static_cast<double>(requests));
  micro_batches_->Increment();
}

void Metrics::rag_stage(const char* stage, double seconds) {
  rag_stages_
      ->Add({{"stage", stage}}, Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5, 1, 2.5, 5, 10, 30})
      .Observe(seconds);
}
void Metrics::inter_token(double seconds) { itl_->Observe(seconds); }

void Metrics::tokens(int64_t prompt, int64_t generated) {
  if (prompt > 0) prompt_tokens_->Increment(static_cast<double>(prompt));
  if (generated > 0) generation_tokens_->Increment(static_cast<double>(generated));
}

void Metrics::model_loaded(double seconds) { load_seconds_->Set(seconds); }

std::string Metrics::scrape(const EngineStats* st, const EngineHealth* health) {
  if (st) {
    std::lock_guard lk(scrape_mu_);
    queue_depth_->Set(st->waiting);
    running_->Set(st->running);
    batch_size_->Set(st->last_batch_tokens);
    batch_sequences_->Set(st->last_batch_sequences);
    kv_used_->Set(st->kv_blocks_used);
    kv_free_->Set(st->kv_blocks_free);
    kv_cached_->Set(st->kv_blocks_cached);
    kv_active_->Set(st->kv_blocks_active);
    hit_.follow(st->prefix_hit_tokens);
    miss_.follow(st->prefix_miss_tokens);
    const int64_t reasons[4] = {st->finished_stop, st->finished_length, st->finished_cancelled, st->finished_error};
    for (int i = 0; i < 4; ++i) by_reason_[i].follow(reasons[i]);
    const int64_t looked = st->prefix_hit_tokens + st->prefix_miss_tokens;
    hit_ratio_->Set(looked ? static_cast<double>(st->prefix_hit_tokens) / static_cast<double>(looked) : 0.0);
  }
  engine_healthy_->Set(health && health->ok ? 1 : 0);
  if (health) {
    std::lock_guard lk(scrape_mu_);
    stalls_.follow(health->stalls);
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

std::string cache_metrics_text(const std::vector<cache::CacheStats>& caches) {
  if (caches.empty()) return "";
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const cache::CacheStats& c : caches) {
      std::ostringstream line;
      line << name << "{cache=\"" << c.name << "\"} " << value(c) << "\n";
      out += line.str();
    }
  };
  family("hayate_cache_hits_total", "counter", "lookups answered from the cache", [](auto& c) { return c.hits; });
  family("hayate_cache_misses_total", "counter", "lookups the cache could not answer",
         [](auto& c) { return c.misses; });
  family("hayate_cache_stores_total", "counter", "entries written", [](auto& c) { return c.puts; });
  family("hayate_cache_hit_ratio", "gauge", "hits / lookups since start", [](auto& c) { return c.hit_rate(); });
  family("hayate_cache_entries", "gauge", "entries held", [](auto& c) { return c.stored.entries; });
  family("hayate_cache_bytes", "gauge", "bytes held, keys and values (Redis: 0, not known)",
         [](auto& c) { return c.stored.bytes; });
  family("hayate_cache_evictions_total", "counter", "entries dropped for the entry or byte limit",
         [](auto& c) { return c.stored.evictions; });
  family("hayate_cache_expired_total", "counter", "entries dropped for their TTL",
         [](auto& c) { return c.stored.expired; });
  family("hayate_cache_available", "gauge", "1 while the cache's store answers (Redis reachable)",
         [](auto& c) { return c.stored.available ? 1 : 0; });
  const char* h = "hayate_cache_lookup_seconds";
  out += std::string("# HELP ") + h + " time one lookup took\n# TYPE " + h + " histogram\n";
  for (const cache::CacheStats& c : caches) {
    std::ostringstream lines;
    int64_t cumulative = 0;
    for (size_t b = 0; b < c.latency_buckets.size(); ++b) {
      cumulative += c.latency_buckets[b];
      lines << h << "_bucket{cache=\"" << c.name << "\",le=\"";
      if (b < cache::kLatencyBounds.size())
        lines << cache::kLatencyBounds[b];
      else
        lines << "+Inf";
      lines << "\"} " << cumulative << "\n";
    }
    lines << h << "_sum{cache=\"" << c.name << "\"} " << c.latency_sum << "\n";
    lines << h << "_count{cache=\"" << c.name << "\"} " << cumulative << "\n";
    out += lines.str();
  }
  return out;
}

}  // namespace hayate::server
