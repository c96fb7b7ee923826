// Retrieval-augmented chat: a `rag` object in /v1/chat/completions ({"collection", "top_k": 4,
// "min_score", "template"}) retrieves the chunks closest to the last user message and puts them
// in the system turn as numbered sources; the answer carries them as `citations`, with the
// stages' `timings`.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/openai.h"
#include "server/routes.h"

namespace hayate::server {

struct RagRequest {
  std::string collection;
  int32_t top_k = 4;
  std::optional<float> min_score;
  std::string template_text;  // contains {context}; empty: the default instructions
  std::vector<int32_t> query_ids;
};

// The request's `rag` object, checked (400 naming the field; 404 for an unknown collection), or
// nullopt when the body has none.
std::optional<RagRequest> parse_rag_request(const std::string& body, const std::vector<api::ChatMessage>& messages,
                                            ServerState& st, Service& svc);

// Searches with the query's embedding and puts the sources into `messages` (the first system
// turn, or a new one). Returns {"citations": [...], "timings": {...}} for the response.
// `embed_hit`: the query's embedding came from the embedding cache.
nlohmann::json apply_rag(const RagRequest& rag, std::vector<float> query, double embed_ms, bool embed_hit,
                         std::vector<api::ChatMessage>& messages, ServerState& st);

// "hit" / "miss", or "off" without the cache.
const char* cache_state(const cache::Cache* c, bool hit);
// The request log line's " embed_ms=1.2 search_ms=0.3 ... embedding_cache=hit" from a response's
// `timings` and `cache` objects.
std::string rag_log_fields(const nlohmann::json& timings, const nlohmann::json& cached);

}  // namespace hayate::server
