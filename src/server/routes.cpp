#include "server/routes.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

#include "api/ollama.h"
#include "core/error.h"
#include "server/bench_runs.h"
#include "server/chat_turn.h"
#include "server/gpu_metrics.h"
#include "server/response_cache.h"
#include "server/websocket.h"

namespace hayate::server {
namespace {

api::ApiError shutting_down() { return api::from_error(Error(ErrorKind::Unavailable, "The server is shutting down")); }

// 200 only when a model is loaded and the engine loop is alive and making progress; otherwise
// 503 with OpenAI's error JSON saying which, for load balancers to route around this server.
awaitable<> handle_health(Exchange& ex, ServerState& st) {
  std::optional<api::ApiError> unhealthy;
  std::string model;
  if (st.stopping()) {
    unhealthy = shutting_down();
  } else if (!st.models().ready()) {
    unhealthy = api::ApiError(503, "The model is still loading", "server_error", "", "model_loading");
  } else {
    for (const ModelStatus& m : st.models().status()) {
      if (model.empty()) model = m.id;
      if (!m.service) continue;
      if (const EngineHealth h = m.service->engine().health(); !h.ok) {
        unhealthy = api::from_error(
            Error(ErrorKind::EngineUnhealthy, "The engine of " + m.id + " is not healthy: " + h.problem));
        break;
      }
    }
  }
  if (unhealthy) {
    co_await respond_error(ex, *unhealthy);
    co_return;
  }
  std::string text = nlohmann::json({{"status", "ok"}, {"model", model}}).dump();
  co_await ex.respond(200, std::move(text));
}

awaitable<> handle_metrics(Exchange& ex, ServerState& st) {
  // The engine gauges follow the first model loaded; each model's KV blocks are in the registry's.
  std::shared_ptr<Service> svc;
  for (const ModelStatus& m : st.models().status())
    if (!svc) svc = m.service;
  std::optional<EngineStats> stats;
  std::optional<EngineHealth> health;
  std::optional<compress::CacheStats> cache;
  if (svc) {
    stats = svc->engine().stats();
    health = svc->engine().health();
    cache = svc->compression().service().cache_stats();
  }
  st.compression_metrics().refresh(cache ? &*cache : nullptr);
  std::string text = st.metrics().scrape(stats ? &*stats : nullptr, health ? &*health : nullptr);
  std::vector<cache::CacheStats> caches;
  for (cache::Cache* c : {st.response_cache(), st.embedding_cache(), st.search_cache()})
    if (c) caches.push_back(c->stats());
  if (const SemanticCache* sc = st.semantic_cache()) caches.push_back(sc->stats());
  if (!caches.empty()) text += cache_metrics_text(caches);
  text += gpu_metrics_text(st.config().gpu_metrics_library);
  text += st.models().metrics_text();
  co_await ex.respond(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8");
}

struct Route {
  std::string_view method;
  std::string_view path;
  bool needs_key;  // health checks and scrapes come from infrastructure that holds no key
  Handler handler;
};

const Route kRoutes[] = {
    {"POST", "/v1/chat/completions", true, handle_chat_completions},
    {"POST", "/v1/completions", true, handle_completions},
    {"POST", "/v1/embeddings", true, handle_embeddings},
    {"POST", "/v1/compress", true, handle_compress},
    {"POST", "/v1/decompress", true, handle_decompress},
    {"POST", "/v1/compress/batch", true, handle_compress_batch},
    {"GET", "/v1/models", true, handle_models},
    {"GET", "/v1/models/{id}", true, handle_model},
    {"POST", "/v1/models/{id}/load", true, handle_model_load},  // the models table (model_routes.cpp)
    {"POST", "/v1/models/{id}/unload", true, handle_model_unload},
    {"POST", "/v1/responses", true, handle_responses},
    {"GET", "/v1/responses/{id}", true, handle_response},
    {"DELETE", "/v1/responses/{id}", true, handle_response},
    {"POST", "/v1/rerank", true, handle_rerank},
    {"POST", "/v1/score", true, handle_score},
    {"POST", "/v1/collections", true, handle_collections},
    {"GET", "/v1/collections", true, handle_collections},
    {"GET", "/v1/collections/{id}", true, handle_collection},
    {"DELETE", "/v1/collections/{id}", true, handle_collection},
    {"POST", "/v1/collections/{id}/documents", true, handle_collection_documents},
    {"DELETE", "/v1/collections/{id}/documents/{id}", true, handle_collection_document},
    {"POST", "/v1/collections/{id}/search", true, handle_collection_search},
    {"POST", "/api/chat", true, handle_ollama_chat},  // Ollama's API (ollama.cpp)
    {"POST", "/api/generate", true, handle_ollama_generate},
    {"POST", "/api/embed", true, handle_ollama_embed},
    {"GET", "/api/tags", true, handle_ollama_tags},
    {"POST", "/api/show", true, handle_ollama_show},
    {"GET", "/api/ps", true, handle_ollama_ps},
    {"POST", "/api/pull", true, handle_ollama_pull},
    {"GET", "/api/version", false, handle_ollama_version},
    {"POST", "/v1/tasks/{id}", true, handle_task},
    {"POST", "/v1/data/process", true, handle_data_process},
    {"GET", "/v1/ws", false, handle_ws_plain},  // the WebSocket authenticates itself (websocket.cpp)
    {"POST", "/v1/conversations", true, handle_conversations},
    {"GET", "/v1/conversations", true, handle_conversations},
    {"GET", "/v1/conversations/{id}", true, handle_conversation},
    {"PATCH", "/v1/conversations/{id}", true, handle_conversation},
    {"DELETE", "/v1/conversations/{id}", true, handle_conversation},
    {"POST", "/v1/conversations/{id}/messages", true, handle_conversation_messages},
    {"POST", "/v1/bench/runs", true, handle_bench_runs},
    {"GET", "/v1/bench/runs", true, handle_bench_runs},
    {"GET", "/v1/bench/report", true, handle_bench_report},
    {"GET", "/v1/requests/recent", true, handle_recent_requests},
    {"GET", "/", false, handle_static},  // the page is public; what it calls needs a key
    {"GET", "/assets/{id}", false, handle_static},
    {"GET", "/health", false, handle_health},
    {"GET", "/metrics", false, handle_metrics},
};

// "{id}" in a pattern matches any one non-empty segment of the path.
bool path_matches(std::string_view pattern, std::string_view path) {
  for (;;) {
    const size_t pe = pattern.find('/'), qe = path.find('/');
    const std::string_view p = pattern.substr(0, pe), q = path.substr(0, qe);
    if (p == "{id}" ? q.empty() : p != q) return false;
    if (pe == std::string_view::npos || qe == std::string_view::npos) return pe == qe;
    pattern.remove_prefix(pe + 1);
    path.remove_prefix(qe + 1);
  }
}

// The route of a path, the one for the method where a path has several.
const Route* find_route(std::string_view path, std::string_view method = "") {
  const Route* found = nullptr;
  for (const Route& r : kRoutes)
    if (path_matches(r.path, path)) {
      if (r.method == method) return &r;
      if (!found) found = &r;
    }
  return found;
}

std::string route_list() {
  std::string out;
  for (const Route& r : kRoutes) out += (out.empty() ? "" : ", ") + std::string(r.method) + " " + std::string(r.path);
  return out;
}

api::ApiError model_loading() {
  return api::ApiError(503, "The model is still loading; retry when /health answers 200", "server_error", "",
                       "model_loading");
}

// Why a request cannot go on, checked in this order: route, method, key, rate, readiness.
std::optional<api::ApiError> admission(Exchange& ex, ServerState& st, const Route* route, Headers& extra) {
  const HttpRequest& rq = ex.request();
  if (!route)
    return api::ApiError(404, "No route for " + rq.method + " " + rq.path + "; this server has " + route_list(),
                         "invalid_request_error", "", "not_found");
  if (rq.method != route->method) {
    extra.emplace_back("Allow", std::string(route->method) + ", OPTIONS");
    return api::ApiError(405, rq.method + " is not allowed on " + rq.path + "; use " + std::string(route->method),
                         "invalid_request_error", "", "method_not_allowed");
  }
  if (!route->needs_key) return std::nullopt;
  if (st.keys().enabled() && !st.keys().check(rq.header("authorization")))
    return api::ApiError(401,
                         rq.header("authorization").empty()
                             ? "Missing API key: send it as 'Authorization: Bearer KEY'"
                             : "Incorrect API key: the key in 'Authorization: Bearer KEY' is not one of this "
                               "server's keys",
                         "invalid_request_error", "", "invalid_api_key");
  if (auto refused = over_rate(st.limiter(), client_of(ex, st), st.config().rate_limit_rpm, "", extra)) return refused;
  if (st.stopping()) return shutting_down();
  if (!st.models().ready()) return model_loading();
  return std::nullopt;
}

}  // namespace

std::string client_of(Exchange& ex, ServerState& st) {
  if (st.keys().enabled())
    if (const auto key = st.keys().check(ex.request().header("authorization"))) return "key:" + *key;
  const std::string peer = ex.peer_address();  // "address:port"; a client's connections share the address
  return "addr:" + peer.substr(0, peer.rfind(':'));
}

std::optional<api::ApiError> over_rate(RateLimiter& limiter, const std::string& client, int64_t rpm,
                                       const std::string& what, Headers& extra) {
  if (!limiter.enabled()) return std::nullopt;
  const auto wait = limiter.acquire(client);
  if (!wait) return std::nullopt;
  const auto seconds = static_cast<int64_t>(std::ceil(*wait));
  extra.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, seconds)));
  return api::ApiError(429,
                       "Rate limit reached: " + std::to_string(rpm) + " " + what +
                           "requests per minute for this key; " + "retry after " + extra.back().second + " s",
                       "requests", "", "rate_limit_exceeded");
}

ServerState::ServerState(const ServerConfig& config, ModelRegistry::Loader load)
    : config_(config),
      models_(config, std::move(load)),
      keys_(config.api_keys),
      limiter_(static_cast<double>(config.rate_limit_rpm), static_cast<double>(config.rate_limit_burst)),
      compress_limiter_(static_cast<double>(config.compress_rate_limit_rpm),
                        static_cast<double>(config.compress_rate_limit_burst)),
      compression_metrics_(metrics_.registry(), config.compress_quality_alert),
      response_cache_(make_response_cache(config)),
      collections_(config.collections_dir.empty() && config.rag_store.empty()
                       ? nullptr
                       : std::make_unique<rag::Collections>(config.collections_dir, config.rag_store)),
      conversations_(session::open_conversations(config.conversations_db)),
      rag_caches_(make_rag_caches(config)),
      semantic_cache_(config.semantic_cache_threshold > 0
                          ? std::make_unique<SemanticCache>(static_cast<float>(config.semantic_cache_threshold),
                                                            static_cast<size_t>(config.semantic_cache_entries))
                          : nullptr),
      micro_batcher_(static_cast<int32_t>(config.micro_batch_max), config.micro_batch_wait_ms,
                     [this](size_t n) { metrics_.micro_batch(n); }) {
  // The indexes are read (or rebuilt) at start, not by the first search of each collection.
  if (collections_) spdlog::info("rag: the indexes of {} collection(s) are ready", collections_->warm_up());
}

std::string route_name(const std::string& path) {
  const Route* r = find_route(path);
  return r ? std::string(r->path) : "other";
}

awaitable<> respond_error(Exchange& ex, const api::ApiError& e, Headers extra) {
  bool has_retry = false;
  for (const auto& [name, value] : extra) has_retry |= name == "Retry-After";
  if (e.status == 429 && !has_retry) extra.emplace_back("Retry-After", "1");
  // Ollama's clients read {"error": "..."} on its routes.
  std::string body = ex.request().path.starts_with("/api/") ? api::ollama::error_json(e.what()) : api::error_json(e);
  co_await ex.respond(e.status, std::move(body), "application/json", std::move(extra));
}

awaitable<> dispatch(Exchange& ex, ServerState& st) {
  const HttpRequest& rq = ex.request();
  const Route* route = find_route(rq.path, rq.method);
  if (route && rq.method == "OPTIONS") {  // CORS preflight: the connection adds the origin headers
    // (Built before the co_await: g++ 12 cannot keep a braced list alive across a suspension.)
    Headers preflight;
    preflight.emplace_back("Allow", std::string(route->method) + ", OPTIONS");
    preflight.emplace_back("Access-Control-Allow-Methods", std::string(route->method) + ", OPTIONS");
    preflight.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Request-Id");
    preflight.emplace_back("Access-Control-Max-Age", "600");
    co_await ex.respond(204, "", "", std::move(preflight));
    co_return;
  }
  Headers extra;
  if (auto refused = admission(ex, st, route, extra)) {
    co_await respond_error(ex, *refused, std::move(extra));
    co_return;
  }
  std::optional<api::ApiError> error;
  try {
    co_await route->handler(ex, st);
  } catch (const api::ApiError& e) {
    error = e;
  } catch (const Error& e) {
    error = api::from_error(e);
  } catch (const std::exception& e) {
    spdlog::error("request_id={} internal error: {}", ex.request_id(), e.what());
    error = api::ApiError(500, std::string("Internal server error: ") + e.what(), "server_error");
  }
  if (!error) co_return;
  if (ex.response_started()) {  // a stream broke after its header: nothing to do but close
    spdlog::warn("request_id={} error after the response began: {}", ex.request_id(), error->what());
    co_return;
  }
  co_await respond_error(ex, *error);
}

Error request_timed_out(const ServerConfig& config) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", config.request_timeout);
  return Error(ErrorKind::Timeout, std::string("The request timed out after ") + seconds + " s");
}

}  // namespace hayate::server
