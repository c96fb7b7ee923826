// Collections on a real PostgreSQL (started on a free loopback port), opened twice as two servers
// would: what one adds the other finds at its next search, what one deletes the other stops
// answering, a document is stored whole or not at all, and each server keeps its own index files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "core/error.h"
#include "rag/collections.h"
#include "support/services.h"
#include "support/test_util.h"
#include "support/toy_embedding.h"

namespace hayate::rag {
namespace {

test::PostgresServer* postgres_server() {
  static auto server = std::make_unique<test::PostgresServer>();
  return server.get();
}

class PostgresCollections : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::PostgresServer::bin_dir().empty()) GTEST_SKIP() << "postgresql is not installed (scripts/setup.sh)";
    static int databases = 0;
    url_ = postgres_server()->create_database("rag" + std::to_string(databases++));
    dir_ = test::temp_path("pg-collections." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static CollectionInfo info(const std::string& name) {
    CollectionInfo i;
    i.name = name;
    i.dim = kDim;
    i.model = "toy";
    return i;
  }
  std::string url_, dir_;
};

TEST_F(PostgresCollections, WhatOneServerAddsOrDeletesTheOtherSeesAtItsNextSearch) {
  Collections a(dir_ + "/a", url_), b(dir_ + "/b", url_);
  EXPECT_EQ(a.store().id(), b.store().id());  // one database: shared search-cache entries
  EXPECT_EQ(a.store().id().size(), 32u);
  a.store().create_collection(info("kb"));
  EXPECT_THROW(b.store().create_collection(info("kb")), Error);
  b.warm_up();  // b's index is of the empty collection now
  EXPECT_TRUE(b.search("kb", embed("capital of Zorvia"), 3).empty());

  EXPECT_EQ(a.store().add_document("kb", doc("z", {"the capital of Zorvia is Quellmar", "Zorvia exports blue salt"})),
            Store::AddResult::Added);
  auto hits = b.search("kb", embed("what is the capital of Zorvia"), 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk.text, "the capital of Zorvia is Quellmar");
  EXPECT_EQ(hits[0].chunk.document_id, "z");
  EXPECT_EQ(hits[0].chunk.metadata_json, R"({"source":"z"})");
  EXPECT_EQ(hits[0].chunk.start, 0);
  EXPECT_EQ(b.store().stats("kb").chunks, 2);
  EXPECT_EQ(b.store().add_document("kb", doc("z", {"the capital of Zorvia is Quellmar", "Zorvia exports blue salt"})),
            Store::AddResult::Unchanged);
  EXPECT_EQ(a.search("kb", embed("blue salt"), 1).at(0).chunk.text, "Zorvia exports blue salt");

  EXPECT_TRUE(b.store().delete_document("kb", "z"));
  EXPECT_FALSE(b.store().delete_document("kb", "z"));
  EXPECT_TRUE(a.search("kb", embed("capital of Zorvia"), 5).empty());

  // Deleted and made again through the other server: never answered from the old index.
  a.store().add_document("kb", doc("old", {"the river Osk floods in spring"}));
  EXPECT_EQ(a.search("kb", embed("river Osk"), 1).size(), 1u);
  EXPECT_TRUE(b.delete_collection("kb"));
  try {
    a.search("kb", embed("river Osk"), 1);
    FAIL() << "a deleted collection was searched";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  b.store().create_collection(info("kb"));
  EXPECT_TRUE(a.search("kb", embed("river Osk"), 1).empty());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/a/indexes/kb.faiss"));  // each server's own files
}

TEST_F(PostgresCollections, ADocumentIsStoredWholeOrNotAtAll) {
  Collections a(dir_, url_);
  a.store().create_collection(info("kb"));
  a.store().add_document("kb", doc("kept", {"red apples grow in Tarn"}));
  // PostgreSQL refuses text that is not UTF-8: the second chunk fails after the first was inserted.
  NewDocument broken = doc("broken", {"the first chunk is fine", "the second is not UTF-8 \xff\xfe"});
  EXPECT_THROW(a.store().add_document("kb", broken), Error);
  EXPECT_EQ(a.store().stats("kb").documents, 1);
  EXPECT_EQ(a.store().stats("kb").chunks, 1);
  // The connection is usable after the rollback, and a replacement that fails keeps the old one.
  NewDocument bad_replacement = doc("kept", {"pears", "\xc3"});
  EXPECT_THROW(a.store().add_document("kb", bad_replacement), Error);
  EXPECT_THROW(a.store().add_document("kb", doc("nul", {std::string("a NUL \0 byte", 13)})), Error);
  auto hits = a.search("kb", embed("apples in Tarn"), 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk.text, "red apples grow in Tarn");
  try {
    a.store().add_document("gone", doc("d", {"text"}));
    FAIL() << "a document was added to a collection that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST_F(PostgresCollections, WithoutADirectoryTheIndexesAreBuiltFromTheStoreAtStart) {
  {
    Collections a(dir_, url_);
    a.store().create_collection(info("kb"));
    a.store().add_document("kb", doc("d", {"the river Osk floods in spring", "red apples grow in Tarn"}));
  }
  Collections memory_only("", url_);
  EXPECT_EQ(memory_only.warm_up(), 1u);
  EXPECT_EQ(memory_only.rebuilds(), 1);
  EXPECT_EQ(memory_only.search("kb", embed("river Osk flood"), 1).at(0).chunk.text, "the river Osk floods in spring");
  EXPECT_EQ(memory_only.rebuilds(), 1);  // the version did not move: no second build
}

TEST(PostgresCollectionsErrors, AnUnreachableOrWrongStoreIsSaid) {
  try {
    Collections c("", "postgresql://hayate@127.0.0.1:" + std::to_string(test::free_port()) + "/none");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_NE(std::string(e.what()).find("PostgreSQL cannot be reached"), std::string::npos) << e.what();
  }
  try {
    Collections c("", "mysql://localhost/x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("postgresql://"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate::rag
