#include "server/rag_chat.h"

#include <chrono>
#include <cstdio>

#include "core/error.h"

namespace hayate::server {
namespace {

using nlohmann::json;

constexpr const char* kDefaultTemplate =
    "Answer the question using only the sources below. Cite the sources you use as [1], [2], and say so "
    "when they do not contain the answer.\n\n{context}";

std::string fill(std::string text, const std::string& context) {
  const size_t at = text.find("{context}");
  return text.replace(at, std::string_view("{context}").size(), context);
}

}  // namespace

std::optional<RagRequest> parse_rag_request(const std::string& body, const std::vector<api::ChatMessage>& messages,
                                            ServerState& st, Service& svc) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("rag") || j["rag"].is_null()) return std::nullopt;
  const json& r = j["rag"];
  auto bad = [](const std::string& msg, const std::string& param) {
    return api::ApiError(400, msg, "invalid_request_error", param);
  };
  if (!r.is_object()) throw bad("'rag' must be an object {collection, top_k, min_score, template}", "rag");
  if (!r.contains("collection") || !r["collection"].is_string())
    throw bad("'rag.collection' (a string) is required", "rag.collection");
  if (!st.collections())
    throw api::ApiError(404, "Collections are off on this server; start it with --collections-dir DIR",
                        "invalid_request_error", "rag.collection", "collections_off");
  RagRequest out;
  out.collection = r["collection"].get<std::string>();
  const rag::CollectionInfo info = st.collections()->require(out.collection);  // 404 naming it
  check_collection_model(info, svc, "rag.collection");
  if (r.contains("top_k")) {
    if (!r["top_k"].is_number_integer() || r["top_k"].get<int64_t>() < 1 || r["top_k"].get<int64_t>() > 100)
      throw bad("'rag.top_k' must be an integer from 1 to 100", "rag.top_k");
    out.top_k = static_cast<int32_t>(r["top_k"].get<int64_t>());
  }
  if (r.contains("min_score")) {
    if (!r["min_score"].is_number()) throw bad("'rag.min_score' must be a number", "rag.min_score");
    out.min_score = r["min_score"].get<float>();
  }
  if (r.contains("template")) {
    if (!r["template"].is_string() || r["template"].get<std::string>().find("{context}") == std::string::npos)
      throw bad("'rag.template' must be a string containing {context}", "rag.template");
    out.template_text = r["template"].get<std::string>();
  }
  const std::string* question = nullptr;
  for (const api::ChatMessage& m : messages)
    if (m.role == "user") question = &m.content;
  if (!question || question->empty()) throw bad("rag needs a user message with text to search for", "messages");
  out.query_ids = svc.tokenizer().encode(*question, true, true);
  svc.check_prompt(out.query_ids, "question", "messages");
  return out;
}

const char* cache_state(const cache::Cache* c, bool hit) { return !c ? "off" : hit ? "hit" : "miss"; }

std::string rag_log_fields(const json& timings, const json& cached) {
  std::string out;
  char buf[64];
  for (const auto& [k, v] : timings.items())
    if (v.is_number() && k != "generation_ms") {  // the request line has its own generation_ms
      std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
      out += " " + k + "=" + buf;
    }
  for (const auto& [k, v] : cached.items())
    if (v.is_string()) out += " " + k + "_cache=" + v.get<std::string>();
  return out;
}

json apply_rag(const RagRequest& rag, std::vector<float> query, double embed_ms, bool embed_hit,
               std::vector<api::ChatMessage>& messages, ServerState& st) {
  const auto t0 = std::chrono::steady_clock::now();
  bool search_hit = false;
  const std::vector<rag::SearchResult> hits = cached_search(*st.collections(), st.search_cache(), rag.collection,
                                                            std::move(query), rag.top_k, rag.min_score, search_hit);
  const double search_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  st.metrics().rag_stage("search", search_ms / 1000);
  std::string context;
  json citations = json::array();
  for (size_t i = 0; i < hits.size(); ++i) {
    const rag::StoredChunk& c = hits[i].chunk;
    const std::string n = std::to_string(i + 1);
    context += "[" + n + "] (" + c.document_id + (c.section.empty() ? "" : ", " + c.section) + ")\n" + c.text + "\n\n";
    citations.push_back({{"index", i + 1},
                         {"document_id", c.document_id},
                         {"chunk_id", c.id},
                         {"section", c.section},
                         {"start", c.start},
                         {"end", c.end},
                         {"score", hits[i].score},
                         {"text", c.text}});
  }
  if (hits.empty()) context = "(no source matched the question)\n";
  const std::string instructions = fill(rag.template_text.empty() ? kDefaultTemplate : rag.template_text, context);
  if (!messages.empty() && messages.front().role == "system") {
    messages.front().content += "\n\n" + instructions;
  } else {
    api::ChatMessage sys;
    sys.role = "system";
    sys.content = instructions;
    messages.insert(messages.begin(), std::move(sys));
  }
  const json cached = {{"embedding", cache_state(st.embedding_cache(), embed_hit)},
                       {"search", cache_state(st.search_cache(), search_hit)}};
  return {{"citations", citations}, {"timings", {{"embed_ms", embed_ms}, {"search_ms", search_ms}}}, {"cache", cached}};
}

}  // namespace hayate::server
