// The semantic cache alone: a near question hits above the threshold and a far one misses, the
// closest entry wins, another context or collection never answers, a changed collection drops its
// entries, and the oldest entry goes first when full.
#include <gtest/gtest.h>

#include "server/semantic_cache.h"

namespace hayate::server {
namespace {

TEST(SemanticCache, ThresholdContextVersionAndEviction) {
  SemanticCache c(0.95f, 2);
  c.put("kb", 1, "ctx", {1, 0, 0}, "answer-x");
  c.put("kb", 1, "ctx", {0, 1, 0}, "answer-y");

  const auto near = c.get("kb", 1, "ctx", {10, 1, 0});  // cos = 0.995, not unit length: normalised
  ASSERT_TRUE(near);
  EXPECT_EQ(near->body, "answer-x");
  EXPECT_NEAR(near->similarity, 0.995, 1e-3);
  EXPECT_FALSE(c.get("kb", 1, "ctx", {1, 1, 0}));  // cos = 0.707 to both
  EXPECT_FALSE(c.get("kb", 1, "other-ctx", {1, 0, 0}));
  EXPECT_FALSE(c.get("docs", 1, "ctx", {1, 0, 0}));
  EXPECT_EQ(c.hits(), 1);
  EXPECT_EQ(c.misses(), 3);

  EXPECT_FALSE(c.get("kb", 2, "ctx", {1, 0, 0})) << "the collection changed: version 2";
  EXPECT_EQ(c.size(), 0u) << "its old entries are dropped";

  c.put("kb", 2, "ctx", {1, 0, 0}, "a");
  c.put("kb", 2, "ctx", {0, 1, 0}, "b");
  c.put("kb", 2, "ctx", {0, 0, 1}, "c");
  EXPECT_EQ(c.size(), 2u);
  EXPECT_FALSE(c.get("kb", 2, "ctx", {1, 0, 0})) << "the oldest was evicted";
  EXPECT_EQ(c.get("kb", 2, "ctx", {0, 0.1f, 1})->body, "c");

  // What /metrics shows of it, as of every cache.
  const cache::CacheStats st = c.stats();
  EXPECT_EQ(st.name, "semantic");
  EXPECT_EQ(st.hits, 2);
  EXPECT_EQ(st.misses, 5);
  EXPECT_EQ(st.puts, 5);
  EXPECT_EQ(st.stored.entries, 2);
  EXPECT_EQ(st.stored.evictions, 1);
  EXPECT_EQ(st.stored.bytes, 2 * static_cast<int64_t>(2 + 3 + 1 + 3 * sizeof(float)));  // "kb", "ctx", "b"/"c"
  int64_t lookups = 0;
  for (int64_t n : st.latency_buckets) lookups += n;
  EXPECT_EQ(lookups, 7);
  EXPECT_GT(st.latency_sum, 0);
}

TEST(SemanticCache, ContextIgnoresTheQuestionAndRefusesNondeterministicRequests) {
  const std::string a =
      R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"Where is Zorvia?"}],"temperature":0,"rag":{"collection":"kb"}})";
  const std::string b =
      R"({"rag":{"collection":"kb"},"temperature":0,"messages":[{"role":"system","content":"S"},{"role":"user","content":"where's Zorvia"}]})";
  ASSERT_TRUE(semantic_context(a, "m"));
  EXPECT_EQ(semantic_context(a, "m"), semantic_context(b, "m"));
  EXPECT_NE(semantic_context(a, "m"), semantic_context(a, "other-model"));
  const std::string other_system =
      R"({"messages":[{"role":"system","content":"T"},{"role":"user","content":"Where is Zorvia?"}],"temperature":0})";
  EXPECT_NE(semantic_context(a, "m"), semantic_context(other_system, "m"));
  EXPECT_FALSE(semantic_context(R"({"messages":[{"role":"user","content":"x"}]})", "m")) << "random sampling";
  EXPECT_FALSE(semantic_context(R"({"messages":[{"role":"user","content":"x"}],"temperature":0,"stream":true})", "m"));
  EXPECT_FALSE(semantic_context(R"({"messages":[{"role":"user","content":"x"}],"temperature":0,"n":2})", "m"));
  EXPECT_TRUE(semantic_context(R"({"messages":[{"role":"user","content":"x"}],"seed":7})", "m"));
}

}  // namespace
}  // namespace hayate::server
