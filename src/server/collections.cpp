// /v1/collections: retrieval collections of the loaded model's embeddings (mean-pooled, unit
// length, through the engine's continuous batching), stored by rag/ in SQLite and searched with
// FAISS. Every document of a request is checked before anything is embedded or stored, so bad
// input is a 4xx with nothing stored; each document is then stored in its own transaction.
#include <chrono>
#include <nlohmann/json.hpp>

#include "cache/hash.h"
#include "core/base64.h"
#include "core/error.h"
#include "doc/document.h"
#include "net/url.h"
#include "rag/chunker.h"
#include "server/rag_chat.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

rag::Collections& collections(ServerState& st) {
  rag::Collections* c = st.collections();
  if (!c)
    throw api::ApiError(404, "Collections are off on this server; start it with --collections-dir DIR",
                        "invalid_request_error", "", "collections_off");
  return *c;
}

// The path's segments after /v1/collections/, %XX-decoded: document ids of ingested files are
// their paths ("guides/port.md"), sent as guides%2Fport.md.
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  std::string_view rest = std::string_view(path).substr(std::string_view("/v1/collections/").size());
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    out.push_back(net::percent_decoded(rest.substr(0, slash)));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

json parse_body(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) throw api::ApiError(400, "The body must be a JSON object", "invalid_request_error");
  return j;
}

json collection_json(rag::Collections& c, const rag::CollectionInfo& info) {
  const rag::CollectionStats st = c.store().stats(info.name);
  json j = {{"id", info.name},         {"object", "collection"},    {"metric", rag::metric_name(info.metric)},
            {"index", info.index},     {"dimensions", info.dim},    {"model", info.model},
            {"created", info.created}, {"documents", st.documents}, {"chunks", st.chunks}};
  if (info.nprobe > 0) j["nprobe"] = info.nprobe;
  if (info.ef_search > 0) j["ef_search"] = info.ef_search;
  return j;
}

std::vector<int32_t> tokens_of(Service& svc, const std::string& text) {
  return svc.tokenizer().encode(text, true, true);
}

// g++ 12 cannot compile brace lists of string literals inside coroutines ("array used as
// initializer"), so the routes' work is in plain functions and the coroutines only wait and answer.
std::string create(Exchange& ex, ServerState& st, Service& svc) {
  const json body = parse_body(ex.request().body);
  rag::CollectionInfo info;
  if (!body.contains("name") || !body["name"].is_string())
    throw api::ApiError(400, "'name' (a string) is required", "invalid_request_error", "name");
  info.name = body["name"].get<std::string>();
  try {
    info.metric = rag::parse_metric(body.value("metric", std::string("cosine")));
  } catch (const Error& e) {
    throw api::ApiError(400, e.what(), "invalid_request_error", "metric");
  } catch (const json::exception&) {
    throw api::ApiError(400, "'metric' must be a string: cosine, ip or l2", "invalid_request_error", "metric");
  }
  if (body.contains("index") && !body["index"].is_string())
    throw api::ApiError(400, "'index' must be a FAISS factory string such as \"Flat\"", "invalid_request_error",
                        "index");
  info.index = body.value("index", std::string("Flat"));
  for (const char* knob : {"nprobe", "ef_search"})
    if (body.contains(knob) &&
        (!body[knob].is_number_integer() || body[knob].get<int64_t>() <= 0 || body[knob].get<int64_t>() > 65536))
      throw api::ApiError(400, std::string("'") + knob + "' must be an integer 1..65536", "invalid_request_error",
                          knob);
  info.nprobe = body.value("nprobe", 0);
  info.ef_search = body.value("ef_search", 0);
  info.dim = svc.n_embd();
  info.model = svc.model_id();
  try {
    rag::VectorIndex check(info);  // an index spec this build cannot make is refused before storing
    collections(st).store().create_collection(info);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput) throw;
    throw api::ApiError(400, e.what(), "invalid_request_error", "");
  }
  return collection_json(collections(st), collections(st).require(info.name)).dump();
}

struct Incoming {
  std::string id, text, metadata;
  std::vector<rag::Chunk> chunks;
};

// A file sent as {"data": base64, "name": "guide.pdf" | "mime_type": "application/pdf"}: its text
// through doc/, every problem with it a 400 naming the document.
doc::Document read_file(const json& d, const std::string& where, const ServerConfig& config, std::string& name) {
  for (const char* key : {"data", "name", "mime_type"})
    if (d.contains(key) && !d[key].is_string())
      throw api::ApiError(400, where + "." + key + " must be a string", "invalid_request_error", where + "." + key);
  name = d.value("name", std::string());
  const std::string type = d.value("mime_type", name);
  try {
    const std::vector<uint8_t> bytes = base64_decode(d["data"].get<std::string>(), where + ".data");
    doc::Limits limits;
    limits.max_bytes = static_cast<size_t>(config.max_body_bytes);
    return doc::extract(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), type, limits);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput) throw;
    throw api::ApiError(400, where + (name.empty() ? "" : " (" + name + ")") + ": " + e.what(), "invalid_request_error",
                        where + ".data");
  }
}

std::vector<Incoming> read_documents(const json& body, Service& svc, const ServerConfig& config) {
  if (!body.contains("documents") || !body["documents"].is_array() || body["documents"].empty())
    throw api::ApiError(400, "'documents' must be a non-empty array of {text, id?, metadata?}", "invalid_request_error",
                        "documents");
  std::vector<Incoming> docs;
  const rag::ChunkOptions options{static_cast<int32_t>(config.rag_chunk_tokens),
                                  static_cast<int32_t>(config.rag_chunk_overlap)};
  const auto count = [&](std::string_view s) { return svc.tokenizer().encode(std::string(s), false, false).size(); };
  for (size_t i = 0; i < body["documents"].size(); ++i) {
    const json& d = body["documents"][i];
    const std::string where = "documents[" + std::to_string(i) + "]";
    if (!d.is_object() || !((d.contains("text") && d["text"].is_string()) ^ d.contains("data")))
      throw api::ApiError(400,
                          where +
                              " must be an object with either a 'text' string or a file's base64 'data' (with "
                              "its 'name' or 'mime_type')",
                          "invalid_request_error", where);
    if (d.contains("metadata") && !d["metadata"].is_object())
      throw api::ApiError(400, where + ".metadata must be an object", "invalid_request_error", where + ".metadata");
    if (d.contains("id") && (!d["id"].is_string() || d["id"].get<std::string>().empty()))
      throw api::ApiError(400, where + ".id must be a non-empty string", "invalid_request_error", where + ".id");
    Incoming in;
    json metadata = d.value("metadata", json::object());
    std::string name;
    if (d.contains("data")) {
      const doc::Document file = read_file(d, where, config, name);
      in.text = file.text;
      // The caller's metadata wins over what the file says of itself.
      json merged = json::parse(file.metadata_json);
      if (!file.title.empty()) merged["title"] = file.title;
      if (!name.empty()) merged["source"] = name;
      merged.update(metadata);
      metadata = std::move(merged);
    } else {
      in.text = d["text"].get<std::string>();
    }
    in.metadata = metadata.dump();
    in.id = d.contains("id") ? d["id"].get<std::string>() : !name.empty() ? name : cache::sha256_hex(in.text);
    in.chunks = rag::chunk_document(in.text, options, count);
    if (in.chunks.empty())
      throw api::ApiError(400, where + " is empty: give it some text", "invalid_request_error", where + ".text");
    for (const Incoming& other : docs)
      if (other.id == in.id)
        throw api::ApiError(400, where + " has the id '" + in.id + "' of an earlier document of this request",
                            "invalid_request_error", where + ".id");
    docs.push_back(std::move(in));
  }
  return docs;
}

// The tokenized chunks of the request's documents, all checked before anything is embedded.
std::vector<Incoming> prepare_documents(Exchange& ex, ServerState& st, Service& svc, const std::string& name,
                                        std::vector<std::vector<int32_t>>& ids) {
  const rag::CollectionInfo info = collections(st).require(name);
  check_collection_model(info, svc, "");
  std::vector<Incoming> docs = read_documents(parse_body(ex.request().body), svc, st.config());
  for (const Incoming& d : docs)
    for (const rag::Chunk& ch : d.chunks) {
      ids.push_back(tokens_of(svc, ch.text));
      svc.check_prompt(ids.back(), "chunk", "documents");
      ex.prompt_tokens += static_cast<int32_t>(ids.back().size());
    }
  return docs;
}

std::string store_documents(rag::Collections& c, const std::string& name, std::vector<Incoming>& docs,
                            std::vector<std::vector<float>>& vectors, double chunk_ms, double embed_ms) {
  const auto t0 = Clock::now();
  json data = json::array();
  size_t v = 0;
  for (Incoming& d : docs) {
    rag::NewDocument nd;
    nd.id = d.id;
    nd.content_hash = cache::sha256_hex(d.text + '\0' + d.metadata);
    nd.metadata_json = d.metadata;
    for (rag::Chunk& ch : d.chunks)
      nd.chunks.push_back({static_cast<int64_t>(ch.start), static_cast<int64_t>(ch.end), std::move(ch.text),
                           std::move(ch.section), std::move(vectors[v++])});
    const rag::Store::AddResult r = c.store().add_document(name, nd);
    const char* status = r == rag::Store::AddResult::Added      ? "added"
                         : r == rag::Store::AddResult::Replaced ? "replaced"
                                                                : "unchanged";
    data.push_back({{"id", d.id}, {"status", status}, {"chunks", nd.chunks.size()}});
  }
  const json out = {{"object", "list"},
                    {"data", data},
                    {"timings", {{"chunk_ms", chunk_ms}, {"embed_ms", embed_ms}, {"store_ms", ms_since(t0)}}}};
  return out.dump();
}

struct SearchRequest {
  std::vector<int32_t> ids;  // the query's tokens
  int32_t top_k = 5;
  std::optional<float> min_score;
};

SearchRequest prepare_search(Exchange& ex, ServerState& st, Service& svc, const std::string& name) {
  const rag::CollectionInfo info = collections(st).require(name);
  const json body = parse_body(ex.request().body);
  if (!body.contains("query") || !body["query"].is_string() || body["query"].get<std::string>().empty())
    throw api::ApiError(400, "'query' must be a non-empty string", "invalid_request_error", "query");
  SearchRequest r;
  const json top_k = body.value("top_k", json(5));
  if (!top_k.is_number_integer() || top_k.get<int64_t>() < 1 || top_k.get<int64_t>() > 1000)
    throw api::ApiError(400, "'top_k' must be an integer from 1 to 1000", "invalid_request_error", "top_k");
  r.top_k = static_cast<int32_t>(top_k.get<int64_t>());
  if (body.contains("min_score")) {
    if (!body["min_score"].is_number())
      throw api::ApiError(400, "'min_score' must be a number", "invalid_request_error", "min_score");
    r.min_score = body["min_score"].get<float>();
  }
  check_collection_model(info, svc, "");
  r.ids = tokens_of(svc, body["query"].get<std::string>());
  svc.check_prompt(r.ids, "query", "query");
  ex.prompt_tokens = static_cast<int32_t>(r.ids.size());
  return r;
}

std::string search_body(Exchange& ex, ServerState& st, const std::string& name, const SearchRequest& req,
                        std::vector<float> query, double embed_ms, bool embed_hit) {
  const auto t0 = Clock::now();
  bool search_hit = false;
  const std::vector<rag::SearchResult> results =
      cached_search(collections(st), st.search_cache(), name, std::move(query), req.top_k, req.min_score, search_hit);
  const double search_ms = ms_since(t0);
  st.metrics().rag_stage("search", search_ms / 1000);
  json data = json::array();
  for (const rag::SearchResult& r : results)
    data.push_back({{"document_id", r.chunk.document_id},
                    {"chunk_id", r.chunk.id},
                    {"text", r.chunk.text},
                    {"section", r.chunk.section},
                    {"start", r.chunk.start},
                    {"end", r.chunk.end},
                    {"score", r.score},
                    {"metadata", json::parse(r.chunk.metadata_json, nullptr, false)}});
  const json timings = {{"embed_ms", embed_ms}, {"search_ms", search_ms}};
  const json cached = {{"embedding", cache_state(st.embedding_cache(), embed_hit)},
                       {"search", cache_state(st.search_cache(), search_hit)}};
  ex.log_fields = rag_log_fields(timings, cached);
  const json out = {{"object", "list"}, {"data", data}, {"timings", timings}, {"cache", cached}};
  return out.dump();
}

std::string list_body(rag::Collections& c) {
  json data = json::array();
  for (const rag::CollectionInfo& info : c.store().list_collections()) data.push_back(collection_json(c, info));
  return json({{"object", "list"}, {"data", data}}).dump();
}

// GET: the collection; DELETE: removes it.
std::string collection_body(Exchange& ex, rag::Collections& c) {
  const std::string name = segments(ex.request().path).at(0);
  if (ex.request().method != "DELETE") return collection_json(c, c.require(name)).dump();
  if (!c.delete_collection(name)) fail(ErrorKind::NotFound, "collection '" + name + "' does not exist");
  return json({{"id", name}, {"object", "collection.deleted"}, {"deleted", true}}).dump();
}

std::string delete_document_body(Exchange& ex, rag::Collections& c) {
  const std::vector<std::string> seg = segments(ex.request().path);
  c.require(seg.at(0));
  if (!c.store().delete_document(seg.at(0), seg.at(2)))
    fail(ErrorKind::NotFound, "collection '" + seg[0] + "' has no document '" + seg[2] + "'");
  return json({{"id", seg[2]}, {"object", "document.deleted"}, {"deleted", true}}).dump();
}

}  // namespace

void check_collection_model(const rag::CollectionInfo& info, const Service& svc, const std::string& param) {
  if (info.model != svc.model_id() || info.dim != svc.n_embd())
    throw api::ApiError(400,
                        "Collection '" + info.name + "' holds embeddings of the model " + info.model +
                            "; this server runs " + svc.model_id(),
                        "invalid_request_error", param, "model_mismatch");
}

awaitable<> handle_collections(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st, std::string());  // the first model embeds
  if (!svc) co_return;
  std::string body = ex.request().method == "POST" ? create(ex, st, *svc) : list_body(collections(st));
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_collection(Exchange& ex, ServerState& st) {
  std::string body = collection_body(ex, collections(st));
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_collection_documents(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st, std::string());  // the first model embeds
  if (!svc) co_return;
  const std::string name = segments(ex.request().path).at(0);
  const auto t0 = Clock::now();
  std::vector<std::vector<int32_t>> ids;
  std::vector<Incoming> docs = prepare_documents(ex, st, *svc, name, ids);
  const double chunk_ms = ms_since(t0);
  const auto t1 = Clock::now();
  std::optional<std::vector<std::vector<float>>> vectors = co_await embed_all(ex, st, *svc, std::move(ids));
  if (!vectors) co_return;
  const double embed_ms = ms_since(t1);
  st.metrics().rag_stage("ingest_embed", embed_ms / 1000);
  const auto t2 = Clock::now();
  std::string body = store_documents(collections(st), name, docs, *vectors, chunk_ms, embed_ms);
  st.metrics().rag_stage("ingest_store", ms_since(t2) / 1000);
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_collection_document(Exchange& ex, ServerState& st) {
  std::string body = delete_document_body(ex, collections(st));
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_collection_search(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st, std::string());  // the first model embeds
  if (!svc) co_return;
  const std::string name = segments(ex.request().path).at(0);
  const SearchRequest req = prepare_search(ex, st, *svc, name);
  const auto t0 = Clock::now();
  bool embed_hit = false;
  std::optional<std::vector<float>> query = co_await embed_query(ex, st, *svc, req.ids, embed_hit);
  if (!query) co_return;
  const double embed_ms = ms_since(t0);
  st.metrics().rag_stage("embed", embed_ms / 1000);
  std::string body = search_body(ex, st, name, req, std::move(*query), embed_ms, embed_hit);
  co_await ex.respond(200, std::move(body));
}

}  // namespace hayate::server
