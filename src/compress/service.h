// Compression as a service, around Compressors: a response cache (LRU with a time to live,
// preloaded with common texts), retries with exponential backoff for transient errors, the
// seed's fallback chain (GPU, CPU, a lower-bit model, then plain zstd, the step used reported),
// and an observer that the server's metrics read (latency, ratio, quality, tokens saved, cost).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "compress/compressor.h"

namespace hayate::compress {

struct ServiceConfig {
  size_t cache_entries = 1024;  // 0: no cache
  double cache_ttl_seconds = 3600;
  int32_t retries = 2;                  // more attempts per step for transient errors
  double backoff_ms = 50;               // before the first retry; doubles each time
  double quality_alert = 0.85;          // semantic results below this cosine are flagged
  double price_per_1k_tokens = 0.002;   // for the estimated cost saving
  std::vector<std::string> fail_steps;  // tests: these steps fail with a transient error
};

// One step of the fallback chain: a name ("cuda", "cpu", "q4_0 model") and its compressor;
// a null compressor is plain zstd.
struct FallbackStep {
  std::string name;
  Compressor* compressor = nullptr;
};

struct CompressRequest {
  std::string text;
  bool semantic = false;
  SemanticOptions semantic_options;
};

struct CompressReply {
  std::vector<uint8_t> file;
  std::string step;                 // the step that made it
  std::vector<std::string> failed;  // "cuda: why" for each step given up before it
  bool cached = false;
  double seconds = 0;
  double ratio = 0;  // original bytes / file bytes
  int64_t original_tokens = 0, tokens_saved = 0;
  double cost_saving = 0;          // tokens_saved at price_per_1k_tokens
  std::optional<Quality> quality;  // semantic
  bool quality_alert = false;
};

struct DecompressReply {
  std::string text;
  std::string step;
  bool semantic = false;
  double seconds = 0;
};

// What the metrics see of each call.
struct Observation {
  enum Kind { Compress, Reconstruct } kind = Compress;
  double seconds = 0;
  bool cached = false;
  double ratio = 0;
  std::optional<double> quality;
  bool quality_alert = false;
  int64_t tokens_saved = 0;
  double cost_saving = 0;
};

struct CacheStats {
  int64_t hits = 0, misses = 0, entries = 0;
  double hit_rate() const { return hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0; }
};

class CompressService {
 public:
  // `steps` in the order to try; plain zstd is added last.
  CompressService(const ServiceConfig& config, std::vector<FallbackStep> steps);

  // Error(BadInput) for a bad request; otherwise the first step that succeeds (zstd always can).
  CompressReply compress(const CompressRequest& request);
  // A lossless file's bytes or a semantic file's reconstruction, by the first step whose model
  // made it. Error(BadInput) for a damaged or foreign file.
  DecompressReply decompress(std::span<const uint8_t> file);
  // Compresses the texts into the cache (common texts, so that their requests hit).
  void preload(const std::vector<std::string>& texts, bool semantic = false);

  CacheStats cache_stats() const;
  void set_observer(std::function<void(const Observation&)> observer) { observer_ = std::move(observer); }
  const std::vector<FallbackStep>& steps() const { return steps_; }
  const ServiceConfig& config() const { return config_; }

 private:
  template <class F>
  auto with_retries(const FallbackStep& step, F&& f) -> decltype(f());
  std::string cache_key(const CompressRequest& r) const;
  std::optional<std::vector<uint8_t>> cache_get(const std::string& key);
  void cache_put(const std::string& key, std::vector<uint8_t> file);
  void observe(const Observation& o) const;

  ServiceConfig config_;
  std::vector<FallbackStep> steps_;
  std::function<void(const Observation&)> observer_;

  struct Entry {
    std::string key;
    std::vector<uint8_t> file;
    std::chrono::steady_clock::time_point added;
  };
  mutable std::mutex cache_mu_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  CacheStats cache_;
};

}  // namespace hayate::compress
