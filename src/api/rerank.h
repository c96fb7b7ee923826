// Cross-scoring documents against a query: /v1/rerank and /v1/score, as pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/openai.h"

namespace hayate::api {

struct RerankRequest {
  std::string model;
  std::vector<std::string> queries;  // one (rerank; score's text_1 as one), or one per document
  std::vector<std::string> documents;
  int32_t top_n = 0;  // 0: all
  bool return_documents = true;
};

// rerank: {query, documents (strings or {text}), top_n, return_documents}; score: {text_1 (a
// text or a list), text_2 (a list)}. ApiError(400) naming the parameter.
RerankRequest parse_rerank_request(std::string_view body, bool score);

// results sorted by relevance_score (most relevant first), cut to top_n.
std::string rerank_json(const std::string& id, const std::string& model, const RerankRequest& r,
                        const std::vector<float>& scores, int32_t prompt_tokens);
// data[i].score for pair i, in the request's order.
std::string score_json(const std::string& id, int64_t created, const std::string& model,
                       const std::vector<float>& scores, int32_t prompt_tokens);

}  // namespace hayate::api
