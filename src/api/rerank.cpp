// /v1/rerank (Jina / Cohere shape, as llama.cpp serves it) and /v1/score (vLLM's shape).
#include "api/rerank.h"

#include "api/json_util.h"
#include "api/parse_util.h"

namespace hayate::api {
namespace {

using json = nlohmann::json;
using detail::bad;
using detail::describe;
using detail::field;

constexpr size_t kMaxDocuments = 1024;

// A string, or (documents) an object with a "text" string.
std::string text_of(const json& v, const std::string& at) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("text") && v["text"].is_string()) return v["text"].get<std::string>();
  bad(at, "'" + at + "' must be a string (or {\"text\": ...}), got " + describe(v));
}

std::vector<std::string> texts(const json& j, const char* key, bool allow_one) {
  const json* v = field(j, key);
  if (!v) bad(key, std::string("'") + key + "' is required");
  std::vector<std::string> out;
  if (v->is_string() && allow_one) return {v->get<std::string>()};
  if (!v->is_array() || v->empty() || v->size() > kMaxDocuments)
    bad(key, std::string("'") + key + "' must be an array of 1 to " + std::to_string(kMaxDocuments) + " texts");
  for (size_t i = 0; i < v->size(); ++i)
    out.push_back(text_of((*v)[i], std::string(key) + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

RerankRequest parse_rerank_request(std::string_view body, bool score) {
  const json j = detail::parse_object(body);
  RerankRequest r;
  if (const json* m = field(j, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  if (score) {
    r.queries = texts(j, "text_1", true);
    r.documents = texts(j, "text_2", true);
    if (r.queries.size() != 1 && r.queries.size() != r.documents.size())
      bad("text_1", "'text_1' must be one text or as many as 'text_2'");
    return r;
  }
  const json* q = field(j, "query");
  if (!q || !q->is_string()) bad("query", "'query' must be a string");
  r.queries = {q->get<std::string>()};
  r.documents = texts(j, "documents", false);
  if (const json* n = field(j, "top_n")) {
    if (!n->is_number_integer() || n->get<int64_t>() < 1) bad("top_n", "'top_n' must be an integer >= 1");
    r.top_n = static_cast<int32_t>(std::min<int64_t>(n->get<int64_t>(), static_cast<int64_t>(r.documents.size())));
  }
  if (const json* d = field(j, "return_documents")) {
    if (!d->is_boolean()) bad("return_documents", "'return_documents' must be true or false");
    r.return_documents = d->get<bool>();
  }
  return r;
}

std::string rerank_json(const std::string& id, const std::string& model, const RerankRequest& r,
                        const std::vector<float>& scores, int32_t prompt_tokens) {
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  if (r.top_n > 0 && order.size() > static_cast<size_t>(r.top_n)) order.resize(static_cast<size_t>(r.top_n));
  detail::ojson results = detail::ojson::array();
  for (size_t i : order) {
    detail::ojson item = {{"index", i}, {"relevance_score", detail::stable_float(scores[i])}};
    if (r.return_documents) item["document"] = {{"text", r.documents[i]}};
    results.push_back(std::move(item));
  }
  return detail::dump({{"id", id},
                       {"object", "list"},
                       {"model", model},
                       {"results", std::move(results)},
                       {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}});
}

std::string score_json(const std::string& id, int64_t created, const std::string& model,
                       const std::vector<float>& scores, int32_t prompt_tokens) {
  detail::ojson data = detail::ojson::array();
  for (size_t i = 0; i < scores.size(); ++i)
    data.push_back({{"index", i}, {"object", "score"}, {"score", detail::stable_float(scores[i])}});
  return detail::dump({{"id", id},
                       {"object", "list"},
                       {"created", created},
                       {"model", model},
                       {"data", std::move(data)},
                       {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}});
}

}  // namespace hayate::api
