// Two real servers sharing their collections through a real PostgreSQL on a free loopback port
// (issue 15): a document ingested through one is found through the other, a delete through one is
// gone on the other, and bad input through either is a 4xx with nothing stored.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/json_call.h"
#include "integration/server_harness.h"
#include "support/services.h"

namespace hayate::test {
namespace {

using nlohmann::json;

const std::string kAtlas =
    "# Brindle\n\nThe harbour of Brindle freezes over in the month of Harrow.\n\n"
    "## Crafts\n\nThe weavers of Brindle dye their cloth with crushed amber beetles.\n";

bool finds(ServerProcess& server, const std::string& query, const std::string& document) {
  const JsonReply r = json_call(server, "POST", "/v1/collections/kb/search", {{"query", query}, {"top_k", 3}});
  EXPECT_EQ(r.status, 200) << r.body;
  for (const json& hit : r.body.value("data", json::array()))
    if (hit["document_id"] == document) return true;
  return false;
}

TEST(ServerRagPostgres, TwoServersShareCollectionsDocumentsAndDeletes) {
  if (PostgresServer::bin_dir().empty()) GTEST_SKIP() << "postgresql is not installed (scripts/setup.sh)";
  PostgresServer postgres;
  const std::string url = postgres.create_database("shared");
  const std::string dir = temp_path("rag-pg." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::vector<std::string> chunking = {"--rag-chunk-tokens", "64", "--rag-chunk-overlap", "8"};
  std::vector<std::string> args_a = {"--rag-store", url, "--collections-dir", dir};
  std::vector<std::string> args_b = {"--rag-store", url};  // its indexes in memory only
  args_a.insert(args_a.end(), chunking.begin(), chunking.end());
  args_b.insert(args_b.end(), chunking.begin(), chunking.end());
  ServerProcess a(args_a), b(args_b);

  ASSERT_EQ(json_call(a, "POST", "/v1/collections", {{"name", "kb"}}).status, 200);
  EXPECT_EQ(json_call(b, "POST", "/v1/collections", {{"name", "kb"}}).status, 400);  // exists, made by a
  ASSERT_EQ(json_call(b, "GET", "/v1/collections/kb").status, 200);
  const std::string fact = "The weavers of Brindle dye their cloth with crushed amber beetles.";
  EXPECT_FALSE(finds(b, fact, "brindle"));  // b's index is of the empty collection now

  const json docs = {{"documents",
                      {{{"id", "brindle"}, {"text", kAtlas}, {"metadata", {{"source", "atlas.md"}}}},
                       {{"id", "other"}, {"text", "Unrelated notes about cooking lentils slowly."}}}}};
  const JsonReply added = json_call(a, "POST", "/v1/collections/kb/documents", docs);
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_TRUE(finds(b, fact, "brindle"));
  const JsonReply on_b = json_call(b, "GET", "/v1/collections/kb");
  EXPECT_EQ(on_b.body["documents"], 2);
  const int chunks = on_b.body["chunks"].get<int>();
  EXPECT_EQ(json_call(b, "POST", "/v1/collections/kb/documents", docs).body["data"][0]["status"], "unchanged");

  // Bad input through either server: a 4xx, and nothing of the request in the shared store.
  const json bad = {{"documents", {{{"id", "fine"}, {"text", "A good document."}}, {{"id", "empty"}, {"text", ""}}}}};
  EXPECT_EQ(json_call(b, "POST", "/v1/collections/kb/documents", bad).status, 400);
  EXPECT_EQ(json_call(a, "POST", "/v1/collections/kb/documents", json{{"documents", "x"}}).status, 400);
  EXPECT_EQ(json_call(b, "POST", "/v1/collections/missing/documents", docs).status, 404);
  EXPECT_EQ(json_call(a, "GET", "/v1/collections/kb").body["chunks"], chunks);
  EXPECT_FALSE(finds(a, "A good document.", "fine"));

  // A delete through b is gone on a.
  EXPECT_TRUE(finds(a, fact, "brindle"));
  EXPECT_EQ(json_call(b, "DELETE", "/v1/collections/kb/documents/brindle").status, 200);
  EXPECT_FALSE(finds(a, fact, "brindle"));
  EXPECT_EQ(json_call(a, "DELETE", "/v1/collections/kb/documents/brindle").status, 404);
  EXPECT_EQ(json_call(a, "DELETE", "/v1/collections/kb").status, 200);
  EXPECT_EQ(json_call(b, "GET", "/v1/collections/kb").status, 404);
  EXPECT_EQ(json_call(b, "POST", "/v1/collections/kb/search", {{"query", fact}}).status, 404);
  EXPECT_EQ(a.stop(), 0);
  EXPECT_EQ(b.stop(), 0);
  std::filesystem::remove_all(dir);
}

TEST(ServerRagPostgres, AnUnreachableStoreStopsTheStartWithTheReason) {
  ServerProcess server({"--rag-store", "postgresql://hayate@127.0.0.1:" + std::to_string(free_port()) + "/none"}, {},
                       false);
  const std::optional<int> code = server.wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(server.log().find("PostgreSQL cannot be reached"), std::string::npos) << server.log();
}

}  // namespace
}  // namespace hayate::test
