#include "server/model_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "api/ollama.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model.h"

namespace hayate::server {

using Clock = std::chrono::steady_clock;

struct ModelRegistry::Entry {
  ModelSpec spec;
  double default_keep_alive = -1;  // seconds; negative: never unloaded when idle
  double keep_alive = -1;          // the last request's (Ollama: each request sets it)
  ModelState state = ModelState::Unloaded;
  std::shared_ptr<Service> service;
  int32_t in_flight = 0;
  Clock::time_point last_used{};
  uint64_t bytes = 0;
  bool unload_wanted = false;  // an eviction or an operator's unload: new requests wait for a reload
  // Requests that waited for this load and have not taken their lease yet: until they do (or
  // model_queue_timeout passes) the model is neither idle nor evicted, or it could be unloaded
  // again before any of them ran (with keep_alive 0, or two models taking turns).
  int32_t reserved = 0;
  Clock::time_point loaded_at{};
  uint64_t failures = 0;
  ErrorKind error_kind = ErrorKind::Internal;
  std::string error;
  std::vector<std::weak_ptr<RequestHandle>> waiters;
};

const char* state_name(ModelState s) {
  switch (s) {
    case ModelState::Unloaded:
      return "unloaded";
    case ModelState::Queued:
      return "queued";
    case ModelState::Loading:
      return "loading";
    case ModelState::Loaded:
      return "loaded";
    case ModelState::Unloading:
      return "unloading";
  }
  return "unloaded";
}

ModelRegistry::ModelRegistry(const ServerConfig& config, Loader load)
    : config_(config), load_(std::move(load)), implicit_(config.models.empty()) {
  const double fallback = keep_alive_seconds(config.keep_alive, "keep_alive");
  for (const ModelSpec& spec : served_models(config)) {
    auto e = std::make_unique<Entry>();
    e->spec = spec;
    e->default_keep_alive = spec.keep_alive.empty() ? fallback : keep_alive_seconds(spec.keep_alive, spec.name);
    e->keep_alive = e->default_keep_alive;
    entries_.push_back(std::move(e));
  }
}

ModelRegistry::~ModelRegistry() { stop(); }

void ModelRegistry::start(std::function<void(const std::exception_ptr&)> on_start_failed) {
  on_start_failed_ = std::move(on_start_failed);
  {
    std::lock_guard lk(mu_);
    for (auto& e : entries_)
      if (e->spec.keep_loaded) {
        e->state = ModelState::Queued;
        queue_.push_back(e.get());
      }
  }
  thread_ = std::thread([this] { loop(); });
}

void ModelRegistry::stop(bool drain) {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<Service>> services;
  {
    std::lock_guard lk(mu_);
    for (auto& e : entries_) {
      if (e->service) services.push_back(std::move(e->service));
      e->state = ModelState::Unloaded;
      notify(*e);
    }
  }
  for (auto& s : services) s->shutdown(drain);
}

std::optional<size_t> ModelRegistry::find(const std::string& name) const {
  if (name.empty() || implicit_) return 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const ModelSpec& s = entries_[i]->spec;
    if (api::ollama::same_model(name, s.name)) return i;
    for (const std::string& a : s.aliases)
      if (api::ollama::same_model(name, a)) return i;
  }
  return std::nullopt;
}

size_t ModelRegistry::size() const { return entries_.size(); }

std::shared_ptr<Service> ModelRegistry::try_acquire(size_t row, std::optional<double> keep_alive,
                                                    const std::shared_ptr<RequestHandle>& wake,
                                                    uint64_t since_failures) {
  std::lock_guard lk(mu_);
  Entry& e = *entries_.at(row);
  if (e.failures != since_failures) throw Error(e.error_kind, e.error);
  if (stopping_) throw Error(ErrorKind::Unavailable, "The server is shutting down");
  if (e.state == ModelState::Loaded && (!e.unload_wanted || e.reserved > 0)) {
    if (e.reserved > 0) --e.reserved;
    ++e.in_flight;
    e.last_used = Clock::now();
    e.keep_alive = keep_alive.value_or(e.default_keep_alive);
    // Not an owner: the registry keeps the Service alive while a lease is out, and unloads it on
    // its own thread once the last one is released.
    return std::shared_ptr<Service>(e.service.get(), [this, entry = &e](Service*) { release(*entry); });
  }
  e.waiters.push_back(wake);
  if (e.state == ModelState::Unloaded) {
    e.state = ModelState::Queued;
    queue_.push_back(&e);
    cv_.notify_all();
  }
  return nullptr;
}

uint64_t ModelRegistry::failures(size_t row) const {
  std::lock_guard lk(mu_);
  return entries_.at(row)->failures;
}

bool ModelRegistry::request_unload(size_t row, const std::shared_ptr<RequestHandle>& wake) {
  std::lock_guard lk(mu_);
  Entry& e = *entries_.at(row);
  if (e.state != ModelState::Loaded && e.state != ModelState::Unloading) return false;
  e.unload_wanted = true;
  e.waiters.push_back(wake);
  cv_.notify_all();
  return true;
}

void ModelRegistry::release(Entry& e) {
  {
    std::lock_guard lk(mu_);
    --e.in_flight;
    e.last_used = Clock::now();
  }
  cv_.notify_all();
}

int32_t ModelRegistry::notify(Entry& e) {
  int32_t n = 0;
  for (const auto& w : e.waiters)
    if (const auto h = w.lock()) {
      Event done;
      done.kind = Event::Done;
      h->push(std::move(done));
      ++n;
    }
  e.waiters.clear();
  return n;
}

Clock::time_point ModelRegistry::reserved_until(const Entry& e) const {
  return e.loaded_at +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.model_queue_timeout));
}

bool ModelRegistry::busy(const Entry& e, Clock::time_point now) const {
  return e.in_flight > 0 || (e.reserved > 0 && now < reserved_until(e));
}

uint64_t ModelRegistry::estimate(const ModelSpec& spec) const {
  if (spec.file.empty()) return 0;  // the embedded default model: no file to measure
  std::error_code ec;
  const uint64_t file = std::filesystem::file_size(spec.file, ec);
  if (ec) return 0;  // the load says what is wrong with the path
  try {
    const HParams hp = read_hparams(*gguf::File::open(spec.file));
    const int64_t ctx_set = spec.ctx_size >= 0 ? spec.ctx_size : config_.ctx_size;
    const int64_t ctx = ctx_set > 0 ? ctx_set : std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    const int64_t positions = config_.kv_blocks > 0 ? config_.kv_blocks * EngineConfig{}.block_size : 2 * ctx;
    // Keys and values of every layer, F32: an upper bound for the backends' caches.
    return file + static_cast<uint64_t>(positions) * static_cast<uint64_t>(hp.n_layer) * 2 *
                      static_cast<uint64_t>(hp.kv_dim()) * sizeof(float);
  } catch (const Error&) {
    return file;
  }
}

bool ModelRegistry::fits(const Entry& incoming, uint64_t need) const {
  int64_t loaded = 0;
  uint64_t bytes = 0;
  for (const auto& e : entries_)
    if (e.get() != &incoming && (e->state == ModelState::Loaded || e->state == ModelState::Unloading)) {
      ++loaded;
      bytes += e->bytes;
    }
  if (config_.max_loaded_models > 0 && loaded + 1 > config_.max_loaded_models) return false;
  return config_.model_memory_budget <= 0 || bytes + need <= static_cast<uint64_t>(config_.model_memory_budget);
}

ModelRegistry::Entry* ModelRegistry::victim(const Entry& incoming) const {
  Entry* best = nullptr;
  for (const auto& e : entries_)
    if (e.get() != &incoming && e->state == ModelState::Loaded && !e->spec.keep_loaded &&
        (!best || e->last_used < best->last_used))
      best = e.get();
  return best;
}

void ModelRegistry::unload(std::unique_lock<std::mutex>& lk, Entry& e, bool eviction) {
  e.state = ModelState::Unloading;
  std::shared_ptr<Service> svc = std::move(e.service);
  const std::string id = e.spec.name.empty() && svc ? svc->model_id() : e.spec.name;
  lk.unlock();
  svc->shutdown(false);  // nothing in flight: no request is cut
  // status() hands out short-lived copies (health, metrics, /api/ps): let them go, so that the
  // engine, its KV cache and the weights are freed here, on this thread.
  for (int i = 0; i < 5000 && svc.use_count() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  svc.reset();
  spdlog::info("model {} unloaded ({})", id, eviction ? "evicted for another model" : "idle or asked");
  lk.lock();
  e.state = ModelState::Unloaded;
  e.bytes = 0;
  e.unload_wanted = false;
  ++unloads_;
  if (eviction) ++evictions_;
  notify(e);  // requests that wait for it ask again, and queue a reload
}

void ModelRegistry::load(std::unique_lock<std::mutex>& lk, Entry& e) {
  const ModelSpec spec = e.spec;
  lk.unlock();
  const uint64_t need = estimate(spec);
  lk.lock();
  auto failed = [&](ErrorKind kind, const std::string& message) {
    e.state = ModelState::Unloaded;
    e.error_kind = kind;
    e.error = message;
    ++e.failures;
    ++load_failures_;
    spdlog::error("cannot load model {}: {}", spec.name.empty() ? spec.file : spec.name, message);
    notify(e);
  };
  while (!fits(e, need)) {
    Entry* v = victim(e);
    if (!v) {
      failed(ErrorKind::Unavailable, "model '" + spec.name + "' needs about " + std::to_string(need) +
                                         " bytes (file and KV cache), which do not fit model_memory_budget " +
                                         std::to_string(config_.model_memory_budget) + " / max_loaded_models " +
                                         std::to_string(config_.max_loaded_models) +
                                         " beside the keep_loaded models; raise them");
      return;
    }
    v->unload_wanted = true;  // its new requests wait for a reload, so that it drains
    while (!stopping_ && busy(*v, Clock::now())) {
      if (v->in_flight > 0)
        cv_.wait(lk);
      else
        cv_.wait_until(lk, reserved_until(*v));
    }
    if (stopping_) return;
    unload(lk, *v, true);
  }
  e.state = ModelState::Loading;
  lk.unlock();
  std::shared_ptr<Service> svc;
  std::exception_ptr error;
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
  const auto t0 = Clock::now();
  try {
    svc = load_(spec);
  } catch (const Error& err) {
    error = std::current_exception();
    kind = err.kind();
    message = err.what();
  } catch (const std::exception& err) {
    error = std::current_exception();
    message = err.what();
  }
  lk.lock();
  if (error) {
    failed(kind, message);
    if (spec.keep_loaded && on_start_failed_) {
      lk.unlock();
      on_start_failed_(error);
      lk.lock();
    }
    return;
  }
  e.service = std::move(svc);
  e.bytes = need;
  e.state = ModelState::Loaded;
  e.last_used = e.loaded_at = Clock::now();
  e.keep_alive = e.default_keep_alive;  // the last request's keep_alive went with the last load
  ++loads_;
  spdlog::info("model {} loaded in {:.2f} s (about {} bytes counted against the budget)", e.service->model_id(),
               std::chrono::duration<double>(Clock::now() - t0).count(), need);
  e.reserved = notify(e);
}

std::optional<Clock::time_point> ModelRegistry::next_expiry() const {
  std::optional<Clock::time_point> next;
  for (const auto& e : entries_)
    if (e->state == ModelState::Loaded && e->in_flight == 0 && !e->spec.keep_loaded && e->keep_alive >= 0) {
      auto at = e->last_used + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(std::min(e->keep_alive, 1e9)));
      if (e->reserved > 0) at = std::max(at, reserved_until(*e));
      if (!next || at < *next) next = at;
    }
  return next;
}

void ModelRegistry::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    Entry* idle = nullptr;
    const auto now = Clock::now();
    for (auto& e : entries_) {
      if (e->state != ModelState::Loaded || busy(*e, now)) continue;
      const bool expired = !e->spec.keep_loaded && e->keep_alive >= 0 &&
                           now >= e->last_used + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(std::min(e->keep_alive, 1e9)));
      if (e->unload_wanted || expired) idle = e.get();
    }
    if (idle) {
      unload(lk, *idle, false);
      continue;
    }
    if (!queue_.empty()) {
      Entry* e = queue_.front();
      queue_.pop_front();
      load(lk, *e);
      continue;
    }
    if (const auto at = next_expiry())
      cv_.wait_until(lk, *at);
    else
      cv_.wait(lk);
  }
}

std::vector<ModelStatus> ModelRegistry::status() const {
  std::vector<ModelStatus> out;
  for (size_t i = 0; i < entries_.size(); ++i) out.push_back(status(i));
  return out;
}

ModelStatus ModelRegistry::status(size_t row) const {
  std::lock_guard lk(mu_);
  const Entry& e = *entries_.at(row);
  ModelStatus s;
  s.id = e.spec.name.empty() && e.service ? e.service->model_id() : e.spec.name;
  s.aliases = e.spec.aliases;
  s.file = e.spec.file;
  s.state = e.unload_wanted && e.state == ModelState::Loaded ? ModelState::Unloading : e.state;
  s.keep_loaded = e.spec.keep_loaded;
  s.in_flight = e.in_flight;
  s.bytes = e.bytes;
  s.service = e.service;
  if (e.state == ModelState::Loaded && !e.spec.keep_loaded && e.keep_alive >= 0 && e.in_flight == 0) {
    const auto left = std::chrono::duration<double>(std::min(e.keep_alive, 1e9)) - (Clock::now() - e.last_used);
    s.expires =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
  }
  return s;
}

std::shared_ptr<Service> ModelRegistry::primary() const {
  std::lock_guard lk(mu_);
  return entries_.front()->service;
}

bool ModelRegistry::ready() const {
  std::lock_guard lk(mu_);
  for (const auto& e : entries_)
    if (e->spec.keep_loaded && e->state != ModelState::Loaded) return false;
  return true;
}

std::string ModelRegistry::metrics_text() const {
  std::string out;
  auto counter = [&](const char* name, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(v) + "\n";
  };
  counter("hayate_model_loads_total", "Models loaded (at start and on demand).", loads_);
  counter("hayate_model_unloads_total", "Models unloaded (idle, evicted or asked).", unloads_);
  counter("hayate_model_evictions_total", "Models unloaded to make room for another.", evictions_);
  counter("hayate_model_load_failures_total", "Loads that failed.", load_failures_);
  const std::vector<ModelStatus> rows = status();
  int64_t loaded = 0;
  std::string kv_free, kv_total, kv_active;
  for (const ModelStatus& s : rows) {
    if (!s.service) continue;
    ++loaded;
    const EngineStats st = s.service->engine().stats();
    const std::string label = "{model=\"" + s.id + "\"}";
    kv_free += "hayate_model_kv_blocks_free" + label + " " + std::to_string(st.kv_blocks_free) + "\n";
    kv_total += "hayate_model_kv_blocks_total" + label + " " + std::to_string(st.kv_blocks_total) + "\n";
    kv_active += "hayate_model_kv_blocks_active" + label + " " + std::to_string(st.kv_blocks_active) + "\n";
  }
  out += "# HELP hayate_models_loaded Models loaded now.\n# TYPE hayate_models_loaded gauge\nhayate_models_loaded " +
         std::to_string(loaded) + "\n";
  out +=
      "# HELP hayate_model_kv_blocks_free Free KV blocks of each loaded model.\n"
      "# TYPE hayate_model_kv_blocks_free gauge\n" +
      kv_free;
  out +=
      "# HELP hayate_model_kv_blocks_total KV blocks of each loaded model.\n"
      "# TYPE hayate_model_kv_blocks_total gauge\n" +
      kv_total;
  out +=
      "# HELP hayate_model_kv_blocks_active KV blocks held by sequences of each loaded model.\n"
      "# TYPE hayate_model_kv_blocks_active gauge\n" +
      kv_active;
  return out;
}

}  // namespace hayate::server
