// The retrieval caches' keys and entries: a search's key changes with everything that changes
// its answer (the database, the collection's version and creation, top_k, min_score, the query), entries read
// back as written, a damaged entry is a miss, and a cached search is answered from the cache
// until the collection changes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "cache/cache.h"
#include "rag/collections.h"
#include "server/rag_cache.h"
#include "support/test_util.h"

namespace hayate::server {
namespace {

// Built from a brace list: GCC 12 warns falsely (-Wrestrict) on short string literals assigned
// to the members one by one.
rag::CollectionInfo info() {
  return rag::CollectionInfo{
      std::string("kb"), rag::Metric::Cosine, std::string("Flat"), 0, 0, 4, std::string("m"), 10, 3};
}

TEST(RagCache, SearchKeysChangeWithWhatChangesTheAnswer) {
  const std::vector<float> q = {1, 2, 3, 4};
  const std::string base = search_cache_key("db", info(), q, 5, std::nullopt);
  EXPECT_EQ(base, search_cache_key("db", info(), q, 5, std::nullopt));
  rag::CollectionInfo later = info();
  later.version = 4;
  rag::CollectionInfo remade = info();
  remade.created = 11;
  EXPECT_NE(base, search_cache_key("db", later, q, 5, std::nullopt));
  EXPECT_NE(base, search_cache_key("db", remade, q, 5, std::nullopt));
  EXPECT_NE(base, search_cache_key("db", info(), q, 6, std::nullopt));
  EXPECT_NE(base, search_cache_key("db", info(), q, 5, 0.5f));
  EXPECT_NE(base, search_cache_key("db", info(), {1, 2, 3, 5}, 5, std::nullopt));
  EXPECT_NE(base, search_cache_key("other db", info(), q, 5, std::nullopt));
  EXPECT_NE(embedding_cache_key("m", {1, 2}), embedding_cache_key("n", {1, 2}));
  EXPECT_NE(embedding_cache_key("m", {1, 2}), embedding_cache_key("m", {1, 3}));
}

TEST(RagCache, EntriesReadBackAndDamagedOnesAreMisses) {
  EXPECT_EQ(decode_vector(encode_vector({0.5f, -1, 2}), 3), (std::vector<float>{0.5f, -1, 2}));
  EXPECT_FALSE(decode_vector(encode_vector({0.5f, -1, 2}), 4));
  rag::SearchResult r;
  r.chunk = {7, "doc", "text", "Section", R"({"a":1})", 3, 9, 1};
  r.score = 0.25f;
  const auto back = decode_results(encode_results({r}));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 1u);
  const rag::SearchResult& b = back->at(0);
  EXPECT_EQ(b.chunk.id, 7);
  EXPECT_EQ(b.chunk.document_id, "doc");
  EXPECT_EQ(b.chunk.text, "text");
  EXPECT_EQ(b.chunk.section, "Section");
  EXPECT_EQ(b.chunk.metadata_json, R"({"a":1})");
  EXPECT_EQ(b.chunk.start, 3);
  EXPECT_EQ(b.chunk.end, 9);
  EXPECT_EQ(b.chunk.seq, 1);
  EXPECT_FLOAT_EQ(b.score, 0.25f);
  EXPECT_FALSE(decode_results("not json"));
  EXPECT_FALSE(decode_results(R"([[1, "short"]])"));
}

TEST(RagCache, CachedSearchHitsUntilTheCollectionChanges) {
  const std::string dir = test::temp_path("rag-cache." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  rag::Collections c(dir);
  c.store().create_collection(info());
  auto add = [&](const std::string& id, std::vector<float> v) {
    rag::NewDocument d;
    d.id = id;
    d.content_hash = id;
    d.metadata_json = "{}";
    d.chunks.push_back({0, 1, id, "", std::move(v)});
    c.store().add_document("kb", d);
  };
  add("a", {1, 0, 0, 0});
  cache::Cache searches("search", cache::make_store("memory"), 0);
  bool hit = true;
  EXPECT_EQ(cached_search(c, &searches, "kb", {1, 0.1f, 0, 0}, 2, std::nullopt, hit).size(), 1u);
  EXPECT_FALSE(hit);
  EXPECT_EQ(cached_search(c, &searches, "kb", {1, 0.1f, 0, 0}, 2, std::nullopt, hit).size(), 1u);
  EXPECT_TRUE(hit);
  add("b", {0.9f, 0.2f, 0, 0});
  const auto after = cached_search(c, &searches, "kb", {1, 0.1f, 0, 0}, 2, std::nullopt, hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(cached_search(c, nullptr, "kb", {1, 0.1f, 0, 0}, 2, std::nullopt, hit).size(), 2u);
  EXPECT_FALSE(hit);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hayate::server
