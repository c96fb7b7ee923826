// The semantic cache of RAG chat on the real server: off by default; on, the same question asked
// again in other punctuation is answered from it (the same answer and citations, marked as a
// semantic hit), an unrelated question is not, and a change of the collection invalidates it.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/json_call.h"
#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

struct Reply {
  int status;
  json body;
  std::string cache_header;
};

Reply post(const ServerProcess& s, const std::string& path, const json& body) {
  JsonReply r = json_call(s, "POST", path, body);
  return {r.status, std::move(r.body), r.raw.header("x-hayate-cache")};
}

json ask(const std::string& question) {
  return {{"messages", {{{"role", "user"}, {"content", question}}}},
          {"max_tokens", 6},
          {"temperature", 0},
          {"rag", {{"collection", "kb"}, {"top_k", 2}}}};
}

const json kDocs = {
    {"documents",
     {{{"id", "zorvia"},
       {"text", "# Zorvia\n\nThe capital of Zorvia is Quellmar.\n\n## Rivers\n\nThe river Osk floods in Harrow.\n"}}}}};

TEST(ServerRagSemantic, NearQuestionsHitAndAChangedCollectionMisses) {
  const std::string dir = temp_path("ragsemantic." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  for (const bool on : {false, true}) {
    std::filesystem::remove_all(dir);
    std::vector<std::string> args = {"--collections-dir", dir};
    if (on) args.insert(args.end(), {"--semantic-cache-threshold", "0.97"});
    ServerProcess server(args);
    ASSERT_EQ(post(server, "/v1/collections", {{"name", "kb"}}).status, 200);
    ASSERT_EQ(post(server, "/v1/collections/kb/documents", kDocs).status, 200);

    const Reply first = post(server, "/v1/chat/completions", ask("When does the river Osk flood?"));
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.cache_header, "");
    const Reply again = post(server, "/v1/chat/completions", ask("When does the river Osk flood ?"));
    ASSERT_EQ(again.status, 200) << again.body;
    if (!on) {
      EXPECT_EQ(again.cache_header, "") << "off by default";
      EXPECT_FALSE(first.body["cache"].contains("semantic")) << first.body;
      EXPECT_EQ(server.metrics().count(R"(hayate_cache_hits_total{cache="semantic"})"), 0u);
      EXPECT_EQ(server.stop(), 0);
      continue;
    }
    EXPECT_EQ(first.body["cache"]["semantic"], "miss") << first.body;
    EXPECT_EQ(again.cache_header, "semantic") << again.body;
    EXPECT_EQ(again.body["cache"]["semantic"], "hit") << again.body;
    EXPECT_GE(again.body["cache"]["similarity"].get<double>(), 0.97);
    EXPECT_NE(again.body["id"], first.body["id"]);
    EXPECT_EQ(again.body["choices"][0]["message"], first.body["choices"][0]["message"]);
    EXPECT_EQ(again.body["citations"], first.body["citations"]);

    const Reply unrelated = post(server, "/v1/chat/completions", ask("List three kinds of pasta."));
    EXPECT_EQ(unrelated.cache_header, "") << unrelated.body;

    // A new document: the collection's version moved, so the cached answer is stale.
    ASSERT_EQ(post(server, "/v1/collections/kb/documents",
                   {{"documents", {{{"id", "more"}, {"text", "The river Osk is crossed by nine bridges."}}}}})
                  .status,
              200);
    const Reply after = post(server, "/v1/chat/completions", ask("When does the river Osk flood ?"));
    ASSERT_EQ(after.status, 200) << after.body;
    EXPECT_EQ(after.cache_header, "") << after.body;
    EXPECT_EQ(after.body["cache"]["semantic"], "miss") << after.body;

    // /metrics counts it like every cache: 1 hit, 3 misses, their lookup times, what it holds.
    const std::map<std::string, double> m = server.metrics();
    EXPECT_EQ(m.at(R"(hayate_cache_hits_total{cache="semantic"})"), 1);
    EXPECT_EQ(m.at(R"(hayate_cache_misses_total{cache="semantic"})"), 3);
    EXPECT_EQ(m.at(R"(hayate_cache_lookup_seconds_count{cache="semantic"})"), 4);
    EXPECT_EQ(m.at(R"(hayate_cache_entries{cache="semantic"})"), 1);  // the earlier two dropped as stale
    EXPECT_EQ(m.at(R"(hayate_cache_hit_ratio{cache="semantic"})"), 0.25);
    EXPECT_EQ(server.stop(), 0);
  }
}

}  // namespace
}  // namespace hayate::test
