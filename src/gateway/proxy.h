// Passing one request on: its model's route (aliases, replicas), a replica picked by prefix
// affinity and load, retries with backoff on another replica while nothing has reached the
// client, then the model's fallback chain; the answer passed back whole, or as a stream piece by
// piece. Also the state every worker shares and each worker's pool of upstream connections.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/cache.h"
#include "gateway/access.h"
#include "gateway/client.h"
#include "gateway/metrics.h"
#include "gateway/upstreams.h"
#include "net/http_client.h"

namespace hayate::gateway {

// What every worker thread reads. A reload swaps the routing; requests in flight keep the one
// they started with.
class Shared {
 public:
  Shared(std::string config_path, const GatewayConfig& config);
  const std::string config_path;
  UpstreamSet upstreams;
  GatewayMetrics metrics;
  Access access;
  AffinityTable affinity;
  // The response caches (non-streamed answers of temperature 0, and embeddings), made at start
  // from cache_entries and cache_store; null without. A Redis store answers on the worker's
  // thread (a blocking round trip on loopback).
  std::unique_ptr<cache::Cache> completions_cache, embeddings_cache;
  std::atomic<bool> stopping{false};

  std::shared_ptr<const Routing> routing() const;
  // Builds the routing of `config` (Error(BadInput) for an upstream that does not resolve).
  void configure(const GatewayConfig& config);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Routing> routing_;
};

// Kept-alive upstream connections of one worker (one thread), by upstream.
class Pool {
 public:
  explicit Pool(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  std::unique_ptr<net::Connection> take(Upstream& u);
  void give(Upstream& u, std::unique_ptr<net::Connection> c);

 private:
  asio::any_io_executor ex_;
  std::unordered_map<Upstream*, std::vector<std::unique_ptr<net::Connection>>> idle_;
};

struct Incoming {
  std::string method, target;  // target with its query string
  Headers headers;             // names as sent
  std::string body;
  bool keep_alive = true;
  std::string request_id;
  std::string who;   // the key's name or the client's address, for quotas and metrics
  std::string cors;  // the Access-Control-Allow-Origin to answer with; "" for none
  std::chrono::steady_clock::time_point started;

  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
};

// The headers every answer of the gateway carries (request id, CORS).
Headers answer_headers(const Incoming& in);
// An OpenAI-shaped error answer.
awaitable<bool> respond_error(Client& c, const Incoming& in, const GatewayConfig& config, int status,
                              const std::string& message, const std::string& type, const std::string& code);

// Answers `in` from an upstream (or with an error); returns the status the client was given
// (499 when it went away first).
awaitable<int> proxy(std::shared_ptr<Client> c, const Incoming& in, Shared& shared, Pool& pool);

}  // namespace hayate::gateway
