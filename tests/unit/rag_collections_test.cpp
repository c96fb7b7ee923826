// Collections on SQLite and a FAISS flat index: create/list/delete with clear errors, idempotent
// and replacing adds, deletes that searches see at once, data that survives reopening, and
// retrieval of planted facts matching brute force.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "rag/collections.h"
#include "support/test_util.h"
#include "support/toy_embedding.h"

namespace hayate::rag {
namespace {

class CollectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_path("collections." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  CollectionInfo info(const std::string& name, Metric m = Metric::Cosine) {
    CollectionInfo i;
    i.name = name;
    i.metric = m;
    i.dim = kDim;
    i.model = "toy";
    return i;
  }
  std::string dir_;
};

TEST_F(CollectionsTest, CreateListDeleteWithClearErrors) {
  Collections c(dir_);
  c.store().create_collection(info("notes"));
  c.store().create_collection(info("facts", Metric::L2));
  const auto all = c.store().list_collections();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "facts");
  EXPECT_EQ(all[0].metric, Metric::L2);
  EXPECT_THROW(c.store().create_collection(info("notes")), Error);
  EXPECT_THROW(c.store().create_collection(info("bad name!")), Error);
  try {
    parse_metric("hamming");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("cosine, ip, l2"), std::string::npos);
  }
  try {
    c.search("missing", embed("x"), 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  CollectionInfo lsh = info("graph");
  lsh.index = "LSH";
  c.store().create_collection(lsh);
  EXPECT_THROW(c.search("graph", embed("x"), 3), Error);  // named as not supported
  EXPECT_TRUE(c.delete_collection("notes"));
  EXPECT_FALSE(c.delete_collection("notes"));
}

TEST_F(CollectionsTest, AddsAreIdempotentReplaceAndDeleteAndSearchSeesThemAtOnce) {
  Collections c(dir_);
  c.store().create_collection(info("kb"));
  const NewDocument a = doc("a", {"the capital of Zorvia is Quellmar", "Zorvia exports blue salt"});
  EXPECT_EQ(c.store().add_document("kb", a), Store::AddResult::Added);
  EXPECT_EQ(c.store().add_document("kb", a), Store::AddResult::Unchanged);
  EXPECT_EQ(c.store().stats("kb").chunks, 2);
  auto hits = c.search("kb", embed("what is the capital of Zorvia"), 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk.text, "the capital of Zorvia is Quellmar");
  EXPECT_EQ(hits[0].chunk.document_id, "a");
  EXPECT_EQ(hits[0].chunk.metadata_json, R"({"source":"a"})");

  EXPECT_EQ(c.store().add_document("kb", doc("a", {"Zorvia's capital moved to Brindle"})), Store::AddResult::Replaced);
  EXPECT_EQ(c.store().stats("kb").chunks, 1);
  hits = c.search("kb", embed("capital of Zorvia"), 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk.text, "Zorvia's capital moved to Brindle");

  EXPECT_TRUE(c.store().delete_document("kb", "a"));
  EXPECT_TRUE(c.search("kb", embed("capital of Zorvia"), 5).empty());
  EXPECT_EQ(c.store().stats("kb").documents, 0);
}

TEST_F(CollectionsTest, MinScoreFiltersAndDataSurvivesReopening) {
  {
    Collections c(dir_);
    c.store().create_collection(info("kb"));
    c.store().add_document("kb", doc("d", {"red apples grow in Tarn", "the river Osk floods in spring"}));
  }
  Collections c(dir_);
  EXPECT_EQ(c.store().id().size(), 32u);  // made once, kept by the database
  EXPECT_EQ(c.store().id(), Collections(dir_).store().id());
  EXPECT_NE(c.store().id(), Collections(dir_ + "-other").store().id());
  std::filesystem::remove_all(dir_ + "-other");
  auto hits = c.search("kb", embed("when does the river Osk flood"), 2, 0.3f);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk.text, "the river Osk floods in spring");
  EXPECT_GE(hits[0].score, 0.3f);
  EXPECT_EQ(hits[0].chunk.start, 24);
}

TEST_F(CollectionsTest, TheIndexFileIsReusedAndAStaleOrDamagedOneIsRebuilt) {
  const std::string file = dir_ + "/indexes/kb.faiss";
  auto top = [](Collections& c, const std::string& q) {
    const auto hits = c.search("kb", embed(q), 1);
    return hits.empty() ? std::string() : hits[0].chunk.text;
  };
  {
    Collections c(dir_);
    c.store().create_collection(info("kb"));
    c.store().add_document("kb", doc("d", {"the tower of Vell has nine bells", "salt comes from the Grey Marsh"}));
    EXPECT_EQ(top(c, "how many bells has the tower of Vell"), "the tower of Vell has nine bells");
    EXPECT_EQ(c.rebuilds(), 1);
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  {
    Collections c(dir_);  // read from the file, not rebuilt
    EXPECT_EQ(top(c, "where does salt come from"), "salt comes from the Grey Marsh");
    EXPECT_EQ(c.rebuilds(), 0);
    c.store().add_document("kb", doc("e", {"the ferry to Umm leaves at dawn"}));  // the file is now stale
  }
  {
    Collections c(dir_);
    EXPECT_EQ(top(c, "when does the ferry to Umm leave"), "the ferry to Umm leaves at dawn");
    EXPECT_EQ(c.rebuilds(), 1);
  }
  {  // a flipped byte in FAISS's part: the checksum catches it before FAISS reads it
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(f.tellg());
    f.seekp(size - 40);
    f.put('\x5a');
  }
  {
    Collections c(dir_);
    EXPECT_EQ(top(c, "how many bells has the tower of Vell"), "the tower of Vell has nine bells");
    EXPECT_EQ(c.rebuilds(), 1);
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "garbage";
  {
    Collections c(dir_);
    EXPECT_EQ(top(c, "where does salt come from"), "salt comes from the Grey Marsh");
    EXPECT_EQ(c.rebuilds(), 1);
  }
  Collections c(dir_);
  EXPECT_EQ(top(c, "where does salt come from"), "salt comes from the Grey Marsh");
  EXPECT_EQ(c.rebuilds(), 0);  // the rebuilt file was saved again
  EXPECT_TRUE(c.delete_collection("kb"));
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(CollectionsTest, WarmUpReadsOrRebuildsEveryIndexBeforeTheFirstSearch) {
  {
    Collections c(dir_);
    EXPECT_EQ(c.warm_up(), 0u);
    c.store().create_collection(info("kb"));
    c.store().create_collection(info("other"));
    c.store().add_document("kb", doc("d", {"the tower of Vell has nine bells"}));
    EXPECT_EQ(c.warm_up(), 2u);
    EXPECT_EQ(c.rebuilds(), 1);  // kb had no file yet; the empty one has nothing to build
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/indexes/kb.faiss"));
  }
  Collections c(dir_);
  c.store().add_document("other", doc("e", {"salt comes from the Grey Marsh"}));  // other's file is stale now
  EXPECT_EQ(c.warm_up(), 2u);
  EXPECT_EQ(c.rebuilds(), 1);  // kb read from its file, other rebuilt
  const auto hits = c.search("other", embed("where does salt come from"), 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk.text, "salt comes from the Grey Marsh");
  EXPECT_EQ(c.rebuilds(), 1) << "the search found its index ready";
}

TEST_F(CollectionsTest, FlatSearchMatchesBruteForceOnRandomVectors) {
  Collections c(dir_);
  for (Metric m : {Metric::Cosine, Metric::InnerProduct, Metric::L2}) {
    const std::string name = std::string("r") + metric_name(m);
    c.store().create_collection(info(name, m));
    std::mt19937 rng(7);
    std::normal_distribution<float> g;
    std::vector<std::vector<float>> vs;
    NewDocument d;
    d.id = "random";
    d.content_hash = "h";
    d.metadata_json = "{}";
    for (int i = 0; i < 300; ++i) {
      std::vector<float> v(kDim);
      for (float& x : v) x = g(rng);
      vs.push_back(v);
      d.chunks.push_back({i, i + 1, "chunk " + std::to_string(i), "", v});
    }
    c.store().add_document(name, d);
    int found = 0, wanted = 0;
    for (int q = 0; q < 20; ++q) {
      std::vector<float> query(kDim);
      for (float& x : query) x = g(rng);
      std::vector<std::pair<double, int>> scored;
      for (int i = 0; i < 300; ++i) {
        double dot = 0, nq = 0, nv = 0, l2 = 0;
        for (int j = 0; j < kDim; ++j) {
          dot += query[j] * vs[i][j];
          nq += query[j] * query[j];
          nv += vs[i][j] * vs[i][j];
          l2 += (query[j] - vs[i][j]) * (query[j] - vs[i][j]);
        }
        const double s = m == Metric::Cosine ? dot / std::sqrt(nq * nv) : m == Metric::InnerProduct ? dot : -l2;
        scored.push_back({s, i});
      }
      std::sort(scored.rbegin(), scored.rend());
      const auto hits = c.search(name, query, 5);
      ASSERT_EQ(hits.size(), 5u);
      for (int k = 0; k < 5; ++k) {
        ++wanted;
        for (const auto& h : hits) found += h.chunk.text == "chunk " + std::to_string(scored[k].second);
      }
    }
    EXPECT_GE(static_cast<double>(found) / wanted, 0.95) << metric_name(m);
  }
}

}  // namespace
}  // namespace hayate::rag
