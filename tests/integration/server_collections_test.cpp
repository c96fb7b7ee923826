// /v1/collections on the real server: create, list, stats, delete; documents added (idempotent by
// content), replaced and deleted; search that finds a planted chunk; bad input answered 4xx with
// nothing stored; acknowledged documents that survive kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/json_call.h"
#include "integration/server_harness.h"
#include "support/services.h"

namespace hayate::test {
namespace {

using nlohmann::json;

using Reply = JsonReply;

const std::string kFacts =
    "# Zorvia\n\nThe capital of Zorvia is Quellmar, a city of glass towers.\n\n"
    "## Trade\n\nZorvia exports blue salt to the islands of Nemt every spring.\n\n"
    "## Rivers\n\nThe river Osk floods the lowlands in the month of Harrow.\n";

TEST(ServerCollections, AreOffWithoutADirectory) {
  ServerProcess server({});
  const Reply r = json_call(server, "POST", "/v1/collections", {{"name", "kb"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.dump().find("--collections-dir"), std::string::npos) << r.body;
}

TEST(ServerCollections, CreateAddSearchDeleteAndRefuseBadInput) {
  const std::string dir = temp_path("collections." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess server({"--collections-dir", dir, "--rag-chunk-tokens", "64", "--rag-chunk-overlap", "8"});

  // Bad collections are refused and nothing is stored.
  EXPECT_EQ(json_call(server, "POST", "/v1/collections", {{"name", "kb"}, {"metric", "hamming"}}).status, 400);
  EXPECT_EQ(json_call(server, "POST", "/v1/collections", {{"name", "no spaces"}}).status, 400);
  const Reply lsh = json_call(server, "POST", "/v1/collections", {{"name", "kb"}, {"index", "LSH"}});
  EXPECT_EQ(lsh.status, 400);
  EXPECT_NE(lsh.body.dump().find("Flat"), std::string::npos) << lsh.body;
  const Reply pq = json_call(server, "POST", "/v1/collections", {{"name", "kb"}, {"index", "IVF16,PQ7"}});
  EXPECT_EQ(pq.status, 400);
  EXPECT_NE(pq.body.dump().find("must divide the dimension 128"), std::string::npos) << pq.body;
  const Reply flat_nprobe = json_call(server, "POST", "/v1/collections", {{"name", "kb"}, {"nprobe", 8}});
  EXPECT_EQ(flat_nprobe.status, 400);
  EXPECT_NE(flat_nprobe.body.dump().find("nprobe applies to IVF"), std::string::npos) << flat_nprobe.body;
  EXPECT_EQ(
      json_call(server, "POST", "/v1/collections", {{"name", "kb"}, {"index", "IVF8,Flat"}, {"nprobe", "x"}}).status,
      400);
  EXPECT_EQ(json_call(server, "GET", "/v1/collections").body["data"].size(), 0u);
  const Reply ivf =
      json_call(server, "POST", "/v1/collections", {{"name", "ivf"}, {"index", "IVF1024,Flat"}, {"nprobe", 16}});
  ASSERT_EQ(ivf.status, 200) << ivf.body;
  EXPECT_EQ(ivf.body["nprobe"], 16);
  const Reply hnsw =
      json_call(server, "POST", "/v1/collections", {{"name", "hnsw"}, {"index", "HNSW32"}, {"ef_search", 40}});
  ASSERT_EQ(hnsw.status, 200) << hnsw.body;
  EXPECT_EQ(hnsw.body["ef_search"], 40);
  EXPECT_EQ(json_call(server, "DELETE", "/v1/collections/ivf").status, 200);
  EXPECT_EQ(json_call(server, "DELETE", "/v1/collections/hnsw").status, 200);
  EXPECT_EQ(json_call(server, "GET", "/v1/collections").body["data"].size(), 0u);

  const Reply created = json_call(server, "POST", "/v1/collections", {{"name", "kb"}, {"metric", "cosine"}});
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.body["id"], "kb");
  EXPECT_EQ(created.body["metric"], "cosine");
  EXPECT_EQ(created.body["dimensions"], 128);
  EXPECT_EQ(json_call(server, "POST", "/v1/collections", {{"name", "kb"}}).status, 400);  // exists

  const json docs = {{"documents",
                      {{{"id", "zorvia"}, {"text", kFacts}, {"metadata", {{"source", "atlas.md"}}}},
                       {{"id", "other"}, {"text", "Unrelated notes about cooking lentils slowly."}}}}};
  const Reply added = json_call(server, "POST", "/v1/collections/kb/documents", docs);
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.body["data"][0]["status"], "added");
  EXPECT_GE(added.body["data"][0]["chunks"].get<int>(), 3);  // one per section at least
  EXPECT_TRUE(added.body["timings"].contains("embed_ms"));
  EXPECT_EQ(json_call(server, "POST", "/v1/collections/kb/documents", docs).body["data"][0]["status"], "unchanged");
  const Reply stats = json_call(server, "GET", "/v1/collections/kb");
  EXPECT_EQ(stats.body["documents"], 2);
  const int chunks = stats.body["chunks"].get<int>();

  // The planted fact's own words find its chunk first, with its section, offsets and metadata.
  const std::string fact = "Zorvia exports blue salt to the islands of Nemt every spring.";
  const Reply found = json_call(server, "POST", "/v1/collections/kb/search", {{"query", fact}, {"top_k", 3}});
  ASSERT_EQ(found.status, 200) << found.body;
  ASSERT_FALSE(found.body["data"].empty());
  const json& top = found.body["data"][0];
  EXPECT_EQ(top["document_id"], "zorvia");
  EXPECT_NE(top["text"].get<std::string>().find(fact), std::string::npos) << top;
  EXPECT_EQ(top["section"], "Trade");
  EXPECT_EQ(kFacts.substr(top["start"].get<size_t>(), top["end"].get<size_t>() - top["start"].get<size_t>()),
            top["text"].get<std::string>());
  EXPECT_EQ(top["metadata"]["source"], "atlas.md");
  EXPECT_TRUE(found.body["timings"].contains("search_ms"));

  // Bad documents: a 4xx naming the problem, and nothing of the request stored.
  const json bad = {
      {"documents", {{{"id", "fine"}, {"text", "A good document."}}, {{"id", "empty"}, {"text", " \n"}}}}};
  const Reply refused = json_call(server, "POST", "/v1/collections/kb/documents", bad);
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.dump().find("documents[1]"), std::string::npos) << refused.body;
  EXPECT_EQ(json_call(server, "POST", "/v1/collections/kb/documents", json{{"documents", json::array()}}).status, 400);
  EXPECT_EQ(json_call(server, "POST", "/v1/collections/missing/documents", docs).status, 404);
  EXPECT_EQ(json_call(server, "POST", "/v1/collections/missing/search", {{"query", "x"}}).status, 404);
  EXPECT_EQ(json_call(server, "POST", "/v1/collections/kb/search", {{"query", ""}}).status, 400);
  EXPECT_EQ(json_call(server, "POST", "/v1/collections/kb/search", {{"query", "x"}, {"top_k", 0}}).status, 400);
  EXPECT_EQ(json_call(server, "GET", "/v1/collections/kb").body["chunks"], chunks);

  // Delete a document: search no longer returns it.
  EXPECT_EQ(json_call(server, "DELETE", "/v1/collections/kb/documents/zorvia").status, 200);
  EXPECT_EQ(json_call(server, "DELETE", "/v1/collections/kb/documents/zorvia").status, 404);
  const Reply after = json_call(server, "POST", "/v1/collections/kb/search", {{"query", fact}, {"top_k", 10}});
  for (const json& hit : after.body["data"]) EXPECT_NE(hit["document_id"], "zorvia");

  EXPECT_EQ(json_call(server, "DELETE", "/v1/collections/kb").status, 200);
  EXPECT_EQ(json_call(server, "GET", "/v1/collections/kb").status, 404);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServerCollections, RagChatCitesThePlantedChunkAndIsNeverCached) {
  const std::string dir = temp_path("collections." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess server(
      {"--collections-dir", dir, "--rag-chunk-tokens", "64", "--rag-chunk-overlap", "8", "--cache", "memory"});
  ASSERT_EQ(json_call(server, "POST", "/v1/collections", {{"name", "kb"}}).status, 200);
  const json docs = {{"documents",
                      {{{"id", "zorvia"}, {"text", kFacts}},
                       {{"id", "other"}, {"text", "Unrelated notes about cooking lentils slowly."}}}}};
  ASSERT_EQ(json_call(server, "POST", "/v1/collections/kb/documents", docs).status, 200);

  const std::string question = "The river Osk floods the lowlands in the month of Harrow.";
  json body = {{"messages", {{{"role", "user"}, {"content", question}}}}, {"max_tokens", 4}, {"temperature", 0}};
  const Reply plain = json_call(server, "POST", "/v1/chat/completions", body);
  ASSERT_EQ(plain.status, 200) << plain.body;
  body["rag"] = {{"collection", "kb"}, {"top_k", 2}};
  const Reply rag = json_call(server, "POST", "/v1/chat/completions", body);
  ASSERT_EQ(rag.status, 200) << rag.body;
  ASSERT_GE(rag.body["citations"].size(), 1u) << rag.body;
  EXPECT_EQ(rag.body["citations"][0]["document_id"], "zorvia");
  EXPECT_EQ(rag.body["citations"][0]["section"], "Rivers");
  EXPECT_EQ(rag.body["citations"][0]["index"], 1);
  for (const char* stage : {"embed_ms", "search_ms", "prompt_ms", "generation_ms"})
    EXPECT_TRUE(rag.body["timings"].contains(stage)) << stage << " in " << rag.body;
  EXPECT_EQ(rag.body["cache"]["embedding"], "miss") << rag.body;
  // The sources went into the prompt.
  const std::string cited = rag.body["citations"][0]["text"];
  EXPECT_GT(rag.body["usage"]["prompt_tokens"].get<int>(),
            plain.body["usage"]["prompt_tokens"].get<int>() + static_cast<int>(cited.size()));
  EXPECT_EQ(rag.body["choices"].size(), 1u);
  const auto m = server.metrics();
  for (const char* stage : {"embed", "search", "prompt", "generation", "ingest_embed", "ingest_store"})
    EXPECT_GE(m.at(std::string("hayate_rag_stage_seconds_count{stage=\"") + stage + "\"}"), 1) << stage;

  // Deterministic, yet never from the response cache: the collection may change under it.
  HttpClient c("127.0.0.1", server.port());
  const HttpResponse again = c.post("/v1/chat/completions", body.dump());
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.header("x-hayate-cache"), "");

  // Streamed: the citations come in a chunk of their own before [DONE].
  body["stream"] = true;
  const HttpResponse streamed = c.post("/v1/chat/completions", body.dump());
  ASSERT_EQ(streamed.status, 200);
  const size_t at = streamed.body.find("\"citations\"");
  ASSERT_NE(at, std::string::npos) << streamed.body;
  EXPECT_LT(at, streamed.body.find("[DONE]"));

  body.erase("stream");
  body["rag"] = {{"collection", "missing"}};
  EXPECT_EQ(json_call(server, "POST", "/v1/chat/completions", body).status, 404);
  body["rag"] = {{"collection", "kb"}, {"top_k", 0}};
  EXPECT_EQ(json_call(server, "POST", "/v1/chat/completions", body).status, 400);
  body["rag"] = {{"collection", "kb"}, {"template", "no placeholder"}};
  EXPECT_EQ(json_call(server, "POST", "/v1/chat/completions", body).status, 400);
  EXPECT_EQ(server.stop(), 0);
  // The log line of a RAG request carries its stage times (read once the server has stopped, so
  // every line is written).
  const std::string log = server.log();
  const size_t line = log.find(" embed_ms=");  // every request line has generation_ms; only RAG ones this
  ASSERT_NE(line, std::string::npos) << log;
  const size_t begin = log.rfind('\n', line) + 1;
  const std::string request_line = log.substr(begin, log.find('\n', line) - begin);
  for (const char* field :
       {"path=/v1/chat/completions", "embed_ms=", "search_ms=", "prompt_ms=", "embedding_cache=miss"})
    EXPECT_NE(request_line.find(field), std::string::npos) << field << " in " << request_line;
}

TEST(ServerCollections, EmbeddingAndSearchCachesHitAndNeverAnswerForAChangedCollection) {
  const std::string dir = temp_path("collections." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess server({"--collections-dir", dir, "--search-cache-entries", "2"});
  ASSERT_EQ(json_call(server, "POST", "/v1/collections", {{"name", "kb"}}).status, 200);
  const json first = {{"documents", {{{"id", "zorvia"}, {"text", kFacts}}}}};
  ASSERT_EQ(json_call(server, "POST", "/v1/collections/kb/documents", first).status, 200);
  const json query = {{"query", "Where does Zorvia send its blue salt?"}, {"top_k", 5}};
  const Reply cold = json_call(server, "POST", "/v1/collections/kb/search", query);
  ASSERT_EQ(cold.status, 200) << cold.body;
  EXPECT_EQ(cold.body["cache"]["embedding"], "miss");
  EXPECT_EQ(cold.body["cache"]["search"], "miss");
  const Reply hot = json_call(server, "POST", "/v1/collections/kb/search", query);
  EXPECT_EQ(hot.body["cache"]["embedding"], "hit");
  EXPECT_EQ(hot.body["cache"]["search"], "hit");
  EXPECT_EQ(hot.body["data"], cold.body["data"]);

  // A new document moves the collection's version on: the cached search is not used, the new
  // document is found, and the query's embedding still comes from its cache.
  const json second = {{"documents", {{{"id", "salt"}, {"text", "Zorvia sends its blue salt to Nemt by ship."}}}}};
  ASSERT_EQ(json_call(server, "POST", "/v1/collections/kb/documents", second).status, 200);
  const Reply changed = json_call(server, "POST", "/v1/collections/kb/search", query);
  EXPECT_EQ(changed.body["cache"]["embedding"], "hit");
  EXPECT_EQ(changed.body["cache"]["search"], "miss");
  bool found = false;
  for (const json& hit : changed.body["data"]) found |= hit["document_id"] == "salt";
  EXPECT_TRUE(found) << changed.body;

  // Two entries at most: a third search evicts, and /metrics shows it per cache.
  for (const char* q : {"lentils", "river Osk"}) json_call(server, "POST", "/v1/collections/kb/search", {{"query", q}});
  const auto m = server.metrics();
  EXPECT_EQ(m.at("hayate_cache_hits_total{cache=\"embedding\"}"), 2);
  EXPECT_EQ(m.at("hayate_cache_hits_total{cache=\"search\"}"), 1);
  EXPECT_EQ(m.at("hayate_cache_entries{cache=\"search\"}"), 2);
  EXPECT_GE(m.at("hayate_cache_evictions_total{cache=\"search\"}"), 1);
  EXPECT_GE(m.at("hayate_cache_lookup_seconds_count{cache=\"embedding\"}"), 5);
  EXPECT_EQ(server.stop(), 0);

  ServerProcess off({"--collections-dir", dir, "--rag-cache", "off"});
  const Reply uncached = json_call(off, "POST", "/v1/collections/kb/search", query);
  EXPECT_EQ(uncached.body["cache"]["embedding"], "off") << uncached.body;
  EXPECT_EQ(uncached.body["cache"]["search"], "off");
  EXPECT_EQ(off.stop(), 0);
}

TEST(ServerCollections, TwoServersShareQueryEmbeddingsThroughRedis) {
  if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh installs it)";
  RedisServer redis;
  const std::string dir = temp_path("collections." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess a({"--collections-dir", dir + "/a", "--rag-cache", redis.url()});
  ServerProcess b({"--collections-dir", dir + "/b", "--rag-cache", redis.url()});
  for (const ServerProcess* s : {&a, &b}) {
    ASSERT_EQ(json_call(*s, "POST", "/v1/collections", {{"name", "kb"}}).status, 200);
    ASSERT_EQ(json_call(*s, "POST", "/v1/collections/kb/documents", {{"documents", {{{"text", kFacts}}}}}).status, 200);
  }
  const json query = {{"query", "When does the river Osk flood?"}};
  EXPECT_EQ(json_call(a, "POST", "/v1/collections/kb/search", query).body["cache"]["embedding"], "miss");
  const Reply shared = json_call(b, "POST", "/v1/collections/kb/search", query);
  EXPECT_EQ(shared.body["cache"]["embedding"], "hit") << shared.body;
  EXPECT_EQ(shared.body["cache"]["search"], "miss");  // b's collection is another one (its own creation)
  const CommandResult stats = run_command(kHayate + " cache stats --store " + redis.url());
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_NE(stats.output.find("embedding: 1 entries"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("search: 2 entries"), std::string::npos) << stats.output;
  redis.stop();  // no cache, never an error
  const Reply without = json_call(a, "POST", "/v1/collections/kb/search", query);
  EXPECT_EQ(without.status, 200) << without.body;
  EXPECT_EQ(without.body["cache"]["embedding"], "miss");
  EXPECT_EQ(a.stop(), 0);
  EXPECT_EQ(b.stop(), 0);
}

TEST(ServerCollections, AcknowledgedDocumentsSurviveKillNine) {
  const std::string dir = temp_path("collections." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    ServerProcess server({"--collections-dir", dir});
    ASSERT_EQ(json_call(server, "POST", "/v1/collections", {{"name", "kb"}}).status, 200);
    for (int i = 0; i < 5; ++i) {
      const json d = {
          {"documents",
           {{{"id", "d" + std::to_string(i)}, {"text", "Fact number " + std::to_string(i) + " is planted here."}}}}};
      ASSERT_EQ(json_call(server, "POST", "/v1/collections/kb/documents", d).status, 200);
    }
    server.signal(SIGKILL);
    server.wait_exit(std::chrono::seconds(30));
  }
  ServerProcess server({"--collections-dir", dir});
  EXPECT_EQ(json_call(server, "GET", "/v1/collections/kb").body["documents"], 5);
  const Reply found =
      json_call(server, "POST", "/v1/collections/kb/search", {{"query", "Fact number 3 is planted here."}});
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_EQ(found.body["data"][0]["document_id"], "d3");
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace hayate::test
