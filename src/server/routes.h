// What the server does with a request once it is read: routing (one table of routes and their
// handlers, routes.cpp), CORS preflight, API keys, rate limits, then the route's handler. Errors
// become OpenAI error JSON here, in one place: an ApiError as it is, a hayate::Error by its kind.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "cache/cache.h"
#include "core/error.h"
#include "rag/collections.h"
#include "server/auth.h"
#include "server/compression.h"
#include "server/config.h"
#include "server/exchange.h"
#include "server/metrics.h"
#include "server/micro_batcher.h"
#include "server/model_registry.h"
#include "server/rag_cache.h"
#include "server/recent_requests.h"
#include "server/semantic_cache.h"
#include "server/service.h"
#include "session/conversations.h"

namespace hayate::server {

// State shared by every connection.
class ServerState {
 public:
  // `load` makes a Service of a row of the models table (run_server's; none in tests without a
  // model).
  explicit ServerState(const ServerConfig& config, ModelRegistry::Loader load = {});

  const ServerConfig& config() const { return config_; }
  Metrics& metrics() { return metrics_; }
  // The first model's Service when it is loaded, else null: for health checks and the web chat's
  // greeting, not for requests (they take a lease with acquire_service).
  std::shared_ptr<Service> service() const { return models_.primary(); }
  ModelRegistry& models() { return models_; }
  bool stopping() const { return stopping_; }
  void set_stopping() { stopping_ = true; }
  KeyChecker& keys() { return keys_; }
  RateLimiter& limiter() { return limiter_; }
  RateLimiter& compress_limiter() { return compress_limiter_; }
  CompressionMetrics& compression_metrics() { return compression_metrics_; }
  cache::Cache* response_cache() { return response_cache_.get(); }  // null when config.cache is off
  rag::Collections* collections() { return collections_.get(); }    // null without collections_dir
  session::ConversationStore& conversations() { return *conversations_; }
  RecentRequests& recent() { return recent_; }
  cache::Cache* embedding_cache() { return rag_caches_.embeddings.get(); }  // null when off
  cache::Cache* search_cache() { return rag_caches_.searches.get(); }
  SemanticCache* semantic_cache() { return semantic_cache_.get(); }  // null when off
  MicroBatcher& micro_batcher() { return micro_batcher_; }

 private:
  const ServerConfig config_;
  Metrics metrics_;
  ModelRegistry models_;
  std::atomic<bool> stopping_{false};
  KeyChecker keys_;
  RateLimiter limiter_;
  RateLimiter compress_limiter_;  // the compression routes' own (the seed's 120/min, burst 20)
  CompressionMetrics compression_metrics_;
  std::unique_ptr<cache::Cache> response_cache_;
  std::unique_ptr<rag::Collections> collections_;
  std::unique_ptr<session::ConversationStore> conversations_;
  RecentRequests recent_;
  RagCaches rag_caches_;
  std::unique_ptr<SemanticCache> semantic_cache_;
  MicroBatcher micro_batcher_;
};

// Who a request counts against in rate limits: "key:KEY" when API keys are on, else
// "addr:ADDRESS" (a client's connections share it).
std::string client_of(Exchange& ex, ServerState& st);
// An ApiError 429 with a Retry-After header (added to `extra`) when `client` has no token left;
// `what` qualifies the requests in the message ("compression ").
std::optional<api::ApiError> over_rate(RateLimiter& limiter, const std::string& client, int64_t rpm,
                                       const std::string& what, Headers& extra);

// The route name for metrics and logs: the path when it is a known route, else "other".
std::string route_name(const std::string& path);

// Answers one request (every path through it writes a response, unless the peer left).
awaitable<> dispatch(Exchange& ex, ServerState& state);

// A route's handler: it answers the request (or throws; dispatch answers the error).
using Handler = awaitable<> (*)(Exchange& ex, ServerState& state);

// The handlers of the larger routes, a file each (generate.cpp, embeddings.cpp); routes.cpp has
// the small ones.
awaitable<> handle_chat_completions(Exchange& ex, ServerState& state);
awaitable<> handle_completions(Exchange& ex, ServerState& state);
awaitable<> handle_embeddings(Exchange& ex, ServerState& state);
awaitable<> handle_compress(Exchange& ex, ServerState& state);  // compress_routes.cpp
awaitable<> handle_decompress(Exchange& ex, ServerState& state);
awaitable<> handle_compress_batch(Exchange& ex, ServerState& state);
awaitable<> handle_responses(Exchange& ex, ServerState& state);  // responses.cpp: POST /v1/responses
awaitable<> handle_response(Exchange& ex, ServerState& state);   // GET and DELETE /v1/responses/{id}
awaitable<> handle_rerank(Exchange& ex, ServerState& state);     // rerank.cpp
awaitable<> handle_score(Exchange& ex, ServerState& state);
// Ollama's API (ollama.cpp): /api/chat, /api/generate, /api/embed, /api/tags, /api/show, /api/ps,
// /api/pull, /api/version.
awaitable<> handle_ollama_chat(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_generate(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_embed(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_tags(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_show(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_ps(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_pull(Exchange& ex, ServerState& state);
awaitable<> handle_ollama_version(Exchange& ex, ServerState& state);
awaitable<> handle_task(Exchange& ex, ServerState& state);  // tasks.cpp: /v1/tasks/{name}
// The models table (model_routes.cpp): GET /v1/models and /v1/models/{id} (every model, loaded or
// not), and the operators' POST /v1/models/{id}/load and /unload.
awaitable<> handle_models(Exchange& ex, ServerState& state);
awaitable<> handle_model(Exchange& ex, ServerState& state);
awaitable<> handle_model_load(Exchange& ex, ServerState& state);
awaitable<> handle_model_unload(Exchange& ex, ServerState& state);

// The engine of the model a request names (its JSON body's "model", or "name" as Ollama's
// /api/show has it; `name` when given), as a lease that keeps it loaded until the handler drops
// it. Waits, without blocking the connection, while the model loads or queues behind an
// eviction, up to model_queue_timeout (then 503). ApiError 404 model_not_found for a name that
// is not in the models table. nullptr when the client left while it waited.
awaitable<std::shared_ptr<Service>> acquire_service(Exchange& ex, ServerState& state,
                                                    std::optional<std::string> name = std::nullopt);
// A task for another handler (the data service's summary): its status and JSON body as
// /v1/tasks/{task} would answer `request`; usage adds to ex's.
struct TaskAnswer {
  int status = 0;
  std::string body;
};
awaitable<TaskAnswer> run_task(Exchange& ex, ServerState& state, const std::string& task,
                               const nlohmann::json& request);
awaitable<> handle_data_process(Exchange& ex, ServerState& state);  // data_routes.cpp: /v1/data/process

// Embeddings of tokenized inputs through the engine's continuous batching, in input order, while
// the connection's coroutine waits without blocking (embeddings.cpp). nullopt when the client
// left (the handler ends without a response); throws Error(Timeout) past the request's deadline
// and the engine's errors.
// micro_batch: through the micro-batcher (/v1/embeddings).
awaitable<std::optional<std::vector<std::vector<float>>>> embed_all(Exchange& ex, ServerState& state, Service& svc,
                                                                    std::vector<std::vector<int32_t>> ids,
                                                                    bool micro_batch = false);
// One query's embedding through the embedding cache when it is on (rag_cache.cpp); `hit` says
// whether it came from the cache. nullopt as embed_all.
awaitable<std::optional<std::vector<float>>> embed_query(Exchange& ex, ServerState& state, Service& svc,
                                                         std::vector<int32_t> ids, bool& hit);
// ApiError 400 (code model_mismatch) when the collection holds another model's embeddings.
void check_collection_model(const rag::CollectionInfo& info, const Service& svc, const std::string& param);

// /v1/collections (collections.cpp): create, list, stats, delete; documents add and delete; search.
awaitable<> handle_collections(Exchange& ex, ServerState& state);
awaitable<> handle_collection(Exchange& ex, ServerState& state);
awaitable<> handle_collection_documents(Exchange& ex, ServerState& state);
awaitable<> handle_collection_document(Exchange& ex, ServerState& state);
awaitable<> handle_collection_search(Exchange& ex, ServerState& state);

// /v1/conversations (conversation_routes.cpp): the chat page's conversations, kept server-side.
awaitable<> handle_conversations(Exchange& ex, ServerState& state);    // POST create, GET list (?q= search)
awaitable<> handle_conversation(Exchange& ex, ServerState& state);     // GET, PATCH, DELETE one
awaitable<> handle_recent_requests(Exchange& ex, ServerState& state);  // the dashboard's request log
// The web page (web_assets.cpp): index.html and its script and style, built into the binary.
awaitable<> handle_static(Exchange& ex, ServerState& state);

// Waits for the handle's next event without blocking the connection (model_routes.cpp); false
// when the client went away (what the handle waits for still happens, and is dropped). Throws
// request_timed_out past the request's deadline.
awaitable<bool> wait_event(Exchange& ex, ServerState& state, RequestHandle& handle);

// Error(Timeout), 504: the request ran past config.request_timeout.
Error request_timed_out(const ServerConfig& config);

// Writes an error response in OpenAI's shape.
awaitable<> respond_error(Exchange& ex, const api::ApiError& e, Headers extra = {});

}  // namespace hayate::server
