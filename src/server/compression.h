// The server's side of compression (issue 17): the fallback chain built for the loaded model
// (the serving device, the CPU when that is a GPU, an optional lower-bit model, then zstd), a
// pair of worker threads the routes hand their jobs to (a job may take seconds, and the
// connection threads must not block), and the seed's Prometheus metrics.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "compress/compressor.h"
#include "compress/service.h"
#include "engine/engine.h"
#include "model/model.h"
#include "server/config.h"
#include "tokenizer/tokenizer.h"

namespace prometheus {
class Registry;
}

namespace hayate::server {

class Compression {
 public:
  // Builds the chain's backends (prepared for the model) and preloads the cache.
  Compression(const Model& model, const Tokenizer& tokenizer, Engine& engine, const ServerConfig& config);
  ~Compression();  // finishes the queued jobs

  compress::CompressService& service() { return *service_; }
  compress::Compressor& primary() { return *compressors_.front(); }
  // Runs `job` on a worker thread.
  void run(std::function<void()> job);

 private:
  void work();

  std::vector<std::unique_ptr<compress::Compressor>> compressors_;
  std::unique_ptr<Model> low_bit_model_;
  std::unique_ptr<Tokenizer> low_bit_tokenizer_;
  std::unique_ptr<compress::CompressService> service_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// The seed's metric names (compression_latency_seconds, reconstruction_latency_seconds,
// compression_ratio, quality_score, throughput_per_minute, the cache hit rate) and the quality
// alert, tokens saved and estimated cost saving. Thread-safe.
class CompressionMetrics {
 public:
  CompressionMetrics(prometheus::Registry& registry, double quality_alert);
  void observe(const compress::Observation& o);
  void fallback(const std::string& step);
  void slow_request();
  // Gauges that change with time or live elsewhere: refreshed when /metrics is scraped.
  void refresh(const compress::CacheStats* cache);

  ~CompressionMetrics();

 private:
  struct Families;  // the prometheus objects (compression.cpp)
  std::unique_ptr<Families> m_;
  std::mutex mu_;
  std::deque<std::chrono::steady_clock::time_point> recent_;  // compressions of the last minute
  int64_t hits_seen_ = 0, misses_seen_ = 0;
};

}  // namespace hayate::server
