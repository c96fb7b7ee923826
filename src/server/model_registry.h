// The models a server may serve (the models table) and the engines of those loaded now. A request
// for a model that is not loaded queues a load on the registry's loader thread, which first
// unloads the least recently used idle models until the new one fits max_loaded_models and
// model_memory_budget; the request waits (never on an HTTP thread) and is not failed. A model is
// only unloaded with no request in flight: a lease (the shared_ptr acquire() returns) counts one.
// keep_alive unloads a model idle that long (Ollama's semantics: 0 at once, negative never).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/request.h"
#include "server/config.h"
#include "server/service.h"

namespace hayate::server {

enum class ModelState { Unloaded, Queued, Loading, Loaded, Unloading };
const char* state_name(ModelState s);

// One row of /v1/models, /api/tags and /api/ps.
struct ModelStatus {
  std::string id;
  std::vector<std::string> aliases;
  std::string file;
  ModelState state = ModelState::Unloaded;
  bool keep_loaded = false;
  int32_t in_flight = 0;
  uint64_t bytes = 0;  // the estimate the budget counts (file + KV cache)
  // When an idle unload is due (nullopt: never, or requests in flight).
  std::optional<std::chrono::system_clock::time_point> expires;
  std::shared_ptr<Service> service;  // when loaded (not a lease: do not run requests on it)
};

class ModelRegistry {
 public:
  // Loads a row's model (a thread of the registry's own calls it) and makes its Service.
  using Loader = std::function<std::shared_ptr<Service>(const ModelSpec&)>;

  ModelRegistry(const ServerConfig& config, Loader load);
  ~ModelRegistry();  // stop()
  // Starts the loader thread and queues the keep_loaded rows. on_start_failed gets the error of
  // a keep_loaded model that cannot load (the server stops then: it was asked to serve it).
  void start(std::function<void(const std::exception_ptr&)> on_start_failed);
  // Unloads every model (drain: their engines finish what they accepted) and ends the thread.
  void stop(bool drain = false);

  // The row a request's model names (an id or alias, Ollama's ":latest" tag optional; empty: the
  // first row); nullopt when none. With the one row of `-m`, every name maps to it (its routes
  // answer a wrong name with their own 404).
  std::optional<size_t> find(const std::string& name) const;
  // A lease on the row's engine when it is loaded, else null and a load is queued; `wake` gets an
  // event when the row's state changes. keep_alive (seconds; nullopt: the row's) is how long it
  // stays loaded after this request. Throws the error of a load that failed since `since_failures`.
  std::shared_ptr<Service> try_acquire(size_t row, std::optional<double> keep_alive,
                                       const std::shared_ptr<RequestHandle>& wake, uint64_t since_failures);
  uint64_t failures(size_t row) const;
  // Queues an unload of the row (done once its requests end); false when it is not loaded.
  bool request_unload(size_t row, const std::shared_ptr<RequestHandle>& wake);

  std::vector<ModelStatus> status() const;
  ModelStatus status(size_t row) const;
  // The first row's engine when loaded (health checks, the web chat), else null. Not a lease.
  std::shared_ptr<Service> primary() const;
  bool single() const { return implicit_; }
  // Every keep_loaded model is loaded (the server answers /health 200 from then on).
  bool ready() const;
  size_t size() const;

  int64_t loads() const { return loads_; }
  int64_t unloads() const { return unloads_; }
  int64_t evictions() const { return evictions_; }
  int64_t load_failures() const { return load_failures_; }
  // Prometheus text: loads, unloads, evictions, failures, the gauge of loaded models, and each
  // loaded model's KV blocks (free and total), labelled by model.
  std::string metrics_text() const;

 private:
  struct Entry;
  void loop();
  void release(Entry& e);
  int32_t notify(Entry& e);  // wakes the waiters; how many were still there
  std::chrono::steady_clock::time_point reserved_until(const Entry& e) const;
  bool busy(const Entry& e, std::chrono::steady_clock::time_point now) const;
  bool fits(const Entry& incoming, uint64_t need) const;
  Entry* victim(const Entry& incoming) const;
  void unload(std::unique_lock<std::mutex>& lk, Entry& e, bool eviction);
  void load(std::unique_lock<std::mutex>& lk, Entry& e);
  std::optional<std::chrono::steady_clock::time_point> next_expiry() const;
  uint64_t estimate(const ModelSpec& spec) const;

  const ServerConfig config_;
  Loader load_;
  const bool implicit_;  // the one row of `-m`, not a table
  std::vector<std::unique_ptr<Entry>> entries_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry*> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::function<void(const std::exception_ptr&)> on_start_failed_;
  std::atomic<int64_t> loads_{0}, unloads_{0}, evictions_{0}, load_failures_{0};
};

}  // namespace hayate::server
