#include "server/compression.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/registry.h"
#include "core/error.h"

namespace hayate::server {
namespace {

constexpr int kWorkers = 2;

compress::ModelLogitsOptions logits_options(const Engine& engine, const ServerConfig& c) {
  compress::ModelLogitsOptions o;
  o.n_ctx = engine.config().n_ctx;
  o.max_sequences = static_cast<int32_t>(c.compress_sequences);
  return o;
}

std::vector<std::string> read_preload(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(ErrorKind::NotFound, path + ": cannot open (compress_preload)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::BadInput, path + ": not JSON (compress_preload wants an array of strings): " + e.what());
  }
  if (!j.is_array()) fail(ErrorKind::BadInput, path + ": compress_preload wants a JSON array of strings");
  std::vector<std::string> texts;
  for (const auto& t : j) {
    if (!t.is_string()) fail(ErrorKind::BadInput, path + ": every entry of compress_preload must be a string");
    texts.push_back(t.get<std::string>());
  }
  return texts;
}

}  // namespace

Compression::Compression(const Model& model, const Tokenizer& tokenizer, Engine& engine, const ServerConfig& c) {
  const int threads = static_cast<int>(c.threads);
  DeviceOptions device{c.device, c.gpu_memory_fraction, false};
  std::vector<compress::FallbackStep> steps;
  // The serving device first; when that is a device backend, the CPU after it.
  auto first = make_backend_for(model, c.backend, threads, device, nullptr);
  const std::string first_name = first->name();
  const BackendInfo* info = find_backend(first_name);
  compressors_.push_back(
      std::make_unique<compress::Compressor>(model, tokenizer, std::move(first), &engine, logits_options(engine, c)));
  steps.push_back({first_name, compressors_.back().get()});
  if (info && info->on_device) {
    DeviceOptions cpu{"cpu", c.gpu_memory_fraction, false};
    compressors_.push_back(std::make_unique<compress::Compressor>(
        model, tokenizer, make_backend_for(model, c.backend, threads, cpu, nullptr), &engine,
        logits_options(engine, c)));
    steps.push_back({c.backend, compressors_.back().get()});
  }
  if (!c.compress_fallback_model.empty()) {
    low_bit_model_ = Model::load(c.compress_fallback_model);
    low_bit_tokenizer_ = Tokenizer::from_gguf(*low_bit_model_->file);
    DeviceOptions cpu{"cpu", c.gpu_memory_fraction, false};
    compressors_.push_back(std::make_unique<compress::Compressor>(
        *low_bit_model_, *low_bit_tokenizer_, make_backend_for(*low_bit_model_, c.backend, threads, cpu, nullptr),
        nullptr, logits_options(engine, c)));
    steps.push_back({"fallback model", compressors_.back().get()});
  }
  compress::ServiceConfig sc;
  sc.cache_entries = static_cast<size_t>(c.compress_cache_entries);
  sc.cache_ttl_seconds = c.compress_cache_ttl;
  sc.retries = static_cast<int32_t>(c.compress_retries);
  sc.quality_alert = c.compress_quality_alert;
  sc.price_per_1k_tokens = c.compress_price_per_1k_tokens;
  sc.fail_steps = c.compress_debug_fail_steps;
  service_ = std::make_unique<compress::CompressService>(sc, std::move(steps));
  std::string chain;
  for (const auto& s : service_->steps()) chain += (chain.empty() ? "" : " -> ") + s.name;
  spdlog::info("compression: fallback chain {}; coder on {}", chain, compressors_.front()->source().compute_path());
  if (!c.compress_preload.empty()) {
    const std::vector<std::string> texts = read_preload(c.compress_preload);
    service_->preload(texts);
    spdlog::info("compression: preloaded {} texts into the cache", texts.size());
  }
  for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { work(); });
}

Compression::~Compression() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void Compression::run(std::function<void()> job) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Compression::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

struct CompressionMetrics::Families {
  prometheus::Histogram *latency, *reconstruction, *ratio, *quality;
  prometheus::Gauge *throughput, *hit_rate, *alert_threshold;
  prometheus::Counter *alerts, *tokens_saved, *cost_saving, *slow, *hits, *misses;
  prometheus::Family<prometheus::Counter>* fallbacks;
};

CompressionMetrics::~CompressionMetrics() = default;

CompressionMetrics::CompressionMetrics(prometheus::Registry& r, double quality_alert)
    : m_(std::make_unique<Families>()) {
  const auto histogram = [&](const char* name, const char* help, prometheus::Histogram::BucketBoundaries b) {
    return &prometheus::BuildHistogram().Name(name).Help(help).Register(r).Add({}, std::move(b));
  };
  const auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  const auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
  };
  m_->latency = histogram("compression_latency_seconds", "time to compress one text (cache hits included)",
                          {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60});
  m_->reconstruction = histogram("reconstruction_latency_seconds", "time to reconstruct one semantic file",
                                 {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30});
  m_->ratio =
      histogram("compression_ratio", "original bytes / compressed bytes", {1, 2, 4, 6, 8, 10, 15, 20, 30, 40, 60, 100});
  m_->quality = histogram("quality_score", "semantic files: embedding cosine of original and reconstruction",
                          {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1});
  m_->throughput = gauge("throughput_per_minute", "texts compressed in the last 60 seconds");
  m_->hit_rate = gauge("compression_cache_hit_rate", "cache hits / lookups since start");
  m_->hits = counter("compression_cache_hits_total", "compression requests answered from the cache");
  m_->misses = counter("compression_cache_misses_total", "compression requests the cache did not have");
  m_->alert_threshold = gauge("quality_alert_threshold", "semantic results under this quality raise an alert");
  m_->alert_threshold->Set(quality_alert);
  m_->alerts = counter("quality_alerts_total", "semantic results whose quality was under the alert threshold");
  m_->tokens_saved = counter("tokens_saved_total", "tokens of original text saved by compression (estimated)");
  m_->cost_saving = counter("cost_saving_total", "estimated cost saved, at compress_price_per_1k_tokens");
  m_->slow = counter("compression_slow_requests_total", "compression requests over compress_slow_ms");
  m_->fallbacks = &prometheus::BuildCounter()
                       .Name("compression_fallbacks_total")
                       .Help("compressions made by a later step of the fallback chain, by step")
                       .Register(r);
}

void CompressionMetrics::observe(const compress::Observation& o) {
  if (o.kind == compress::Observation::Reconstruct) {
    m_->reconstruction->Observe(o.seconds);
    return;
  }
  m_->latency->Observe(o.seconds);
  if (o.ratio > 0) m_->ratio->Observe(o.ratio);
  if (o.quality) m_->quality->Observe(*o.quality);
  if (o.quality_alert) m_->alerts->Increment();
  m_->tokens_saved->Increment(static_cast<double>(o.tokens_saved));
  m_->cost_saving->Increment(o.cost_saving);
  std::lock_guard lk(mu_);
  recent_.push_back(std::chrono::steady_clock::now());
}

void CompressionMetrics::fallback(const std::string& step) { m_->fallbacks->Add({{"step", step}}).Increment(); }

void CompressionMetrics::slow_request() { m_->slow->Increment(); }

void CompressionMetrics::refresh(const compress::CacheStats* cache) {
  std::lock_guard lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  while (!recent_.empty() && now - recent_.front() > std::chrono::minutes(1)) recent_.pop_front();
  m_->throughput->Set(static_cast<double>(recent_.size()));
  if (cache) {
    m_->hit_rate->Set(cache->hit_rate());
    m_->hits->Increment(static_cast<double>(std::max<int64_t>(0, cache->hits - hits_seen_)));
    m_->misses->Increment(static_cast<double>(std::max<int64_t>(0, cache->misses - misses_seen_)));
    hits_seen_ = cache->hits;
    misses_seen_ = cache->misses;
  }
}

}  // namespace hayate::server
