#include "compress/service.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "compress/hash.h"
#include "core/clock.h"
#include "core/error.h"

namespace hayate::compress {
namespace {

// Worth another try on the same step: the step was momentarily full or slow.
bool transient(ErrorKind k) {
  return k == ErrorKind::Busy || k == ErrorKind::ResourceExhausted || k == ErrorKind::Timeout;
}

}  // namespace

CompressService::CompressService(const ServiceConfig& config, std::vector<FallbackStep> steps)
    : config_(config), steps_(std::move(steps)) {
  steps_.push_back({"zstd", nullptr});
}

template <class F>
auto CompressService::with_retries(const FallbackStep& step, F&& f) -> decltype(f()) {
  for (int32_t attempt = 0;; ++attempt) {
    try {
      if (std::find(config_.fail_steps.begin(), config_.fail_steps.end(), step.name) != config_.fail_steps.end())
        fail(ErrorKind::ResourceExhausted, "step '" + step.name + "' fails on purpose (fail_steps)");
      return f();
    } catch (const Error& e) {
      if (!transient(e.kind()) || attempt >= config_.retries) throw;
      const double ms = config_.backoff_ms * std::pow(2.0, attempt);
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(ms * 1000)));
    }
  }
}

std::string CompressService::cache_key(const CompressRequest& r) const {
  Hasher h;
  h.add(r.text);
  const SemanticOptions& o = r.semantic_options;
  std::string key = r.semantic ? "s" : "l";
  if (r.semantic)
    key += std::to_string(static_cast<int>(o.method)) + "/" + std::to_string(o.lead_tokens) + "/" +
           std::to_string(o.max_summary_tokens) + "/" + std::to_string(o.target_ratio) + "/" +
           std::to_string(o.min_length);
  return key + ":" + std::to_string(r.text.size()) + ":" + std::to_string(h.digest());
}

std::optional<std::vector<uint8_t>> CompressService::cache_get(const std::string& key) {
  std::lock_guard lk(cache_mu_);
  if (config_.cache_entries == 0) return std::nullopt;
  const auto it = index_.find(key);
  if (it == index_.end() || seconds_since(it->second->added) > config_.cache_ttl_seconds) {
    if (it != index_.end()) {  // expired
      lru_.erase(it->second);
      index_.erase(it);
    }
    ++cache_.misses;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++cache_.hits;
  return it->second->file;
}

void CompressService::cache_put(const std::string& key, std::vector<uint8_t> file) {
  std::lock_guard lk(cache_mu_);
  if (config_.cache_entries == 0) return;
  if (const auto it = index_.find(key); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front({key, std::move(file), std::chrono::steady_clock::now()});
  index_[key] = lru_.begin();
  while (lru_.size() > config_.cache_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

CacheStats CompressService::cache_stats() const {
  std::lock_guard lk(cache_mu_);
  CacheStats s = cache_;
  s.entries = static_cast<int64_t>(lru_.size());
  return s;
}

void CompressService::observe(const Observation& o) const {
  if (observer_) observer_(o);
}

CompressReply CompressService::compress(const CompressRequest& request) {
  const auto t0 = std::chrono::steady_clock::now();
  CompressReply reply;
  const std::string key = cache_key(request);
  const Compressor* first_model = nullptr;
  for (const FallbackStep& s : steps_)
    if (s.compressor && !first_model) first_model = s.compressor;
  reply.original_tokens = first_model
                              ? static_cast<int64_t>(first_model->tokenizer().encode(request.text, false, false).size())
                              : static_cast<int64_t>(request.text.size() / 4);
  if (std::optional<std::vector<uint8_t>> hit = cache_get(key)) {
    reply.file = std::move(*hit);
    reply.cached = true;
    reply.step = "cache";
    const Container c = read_container(reply.file);
    if (c.method == Method::Semantic) reply.quality = Quality{c.semantic.quality / 10000.0, 0};
  } else {
    for (const FallbackStep& step : steps_) {
      try {
        if (!step.compressor) {
          reply.file = compress_zstd(request.text);
        } else if (request.semantic) {
          SemanticResult r = with_retries(
              step, [&] { return step.compressor->compress_semantic(request.text, request.semantic_options); });
          reply.file = std::move(r.file);
          if (!r.kept_whole) reply.quality = r.quality;
        } else {
          reply.file = with_retries(step, [&] { return step.compressor->compress(request.text); });
        }
        reply.step = step.name;
        break;
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::BadInput) throw;
        reply.failed.push_back(step.name + ": " + e.what());
      }
    }
    cache_put(key, reply.file);
  }
  reply.seconds = seconds_since(t0);
  reply.ratio =
      reply.file.empty() ? 0 : static_cast<double>(request.text.size()) / static_cast<double>(reply.file.size());
  if (!request.text.empty())
    reply.tokens_saved = std::max<int64_t>(
        0, std::llround(static_cast<double>(reply.original_tokens) *
                        (1.0 - static_cast<double>(reply.file.size()) / static_cast<double>(request.text.size()))));
  reply.cost_saving = static_cast<double>(reply.tokens_saved) * config_.price_per_1k_tokens / 1000.0;
  reply.quality_alert = reply.quality && reply.quality->cosine < config_.quality_alert;
  observe({Observation::Compress, reply.seconds, reply.cached, reply.ratio,
           reply.quality ? std::optional<double>(reply.quality->cosine) : std::nullopt, reply.quality_alert,
           reply.tokens_saved, reply.cost_saving});
  return reply;
}

DecompressReply CompressService::decompress(std::span<const uint8_t> file) {
  const auto t0 = std::chrono::steady_clock::now();
  const Container c = read_container(file);
  DecompressReply reply;
  reply.semantic = c.method == Method::Semantic;
  if (c.method == Method::Stored || c.method == Method::Zstd) {
    reply.text = compress::decompress(c, nullptr, nullptr);
    reply.step = method_name(c.method);
  } else {
    // The steps whose model made the file, those on the same compute path first.
    std::vector<const FallbackStep*> order;
    for (const FallbackStep& s : steps_)
      if (s.compressor && s.compressor->source().model_id() == c.model.model_id &&
          s.compressor->source().compute_id() == c.model.compute_id)
        order.push_back(&s);
    for (const FallbackStep& s : steps_)
      if (s.compressor && s.compressor->source().model_id() == c.model.model_id &&
          std::find(order.begin(), order.end(), &s) == order.end())
        order.push_back(&s);
    if (order.empty()) {
      if (steps_.empty() || !steps_.front().compressor)
        fail(ErrorKind::BadInput, "this file was compressed with a model, and this service has none");
      steps_.front().compressor->decompress(file);  // throws the model mismatch, which names both fingerprints
    }
    std::string why;
    for (const FallbackStep* s : order) {
      try {
        reply.text = with_retries(*s, [&] { return s->compressor->decompress(file); });
        reply.step = s->name;
        why.clear();
        break;
      } catch (const Error& e) {
        if (!transient(e.kind()) && e.kind() != ErrorKind::Internal) throw;
        why += (why.empty() ? "" : "; ") + s->name + ": " + e.what();
      }
    }
    if (!why.empty()) fail(ErrorKind::Unavailable, "no step could decompress the file: " + why);
  }
  reply.seconds = seconds_since(t0);
  if (reply.semantic) {
    Observation o;
    o.kind = Observation::Reconstruct;
    o.seconds = reply.seconds;
    observe(o);
  }
  return reply;
}

void CompressService::preload(const std::vector<std::string>& texts, bool semantic) {
  for (const std::string& t : texts) {
    CompressRequest r;
    r.text = t;
    r.semantic = semantic;
    const CacheStats before = cache_stats();
    compress(r);
    std::lock_guard lk(cache_mu_);  // preloading is not traffic: leave the hit rate as it was
    cache_.hits = before.hits;
    cache_.misses = before.misses;
  }
}

}  // namespace hayate::compress
