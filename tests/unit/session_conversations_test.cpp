// The conversation stores of the web chat, each case on every store (SQLite in memory, a real
// redis-server and a real PostgreSQL cluster started by the test): order, search (literal, in titles
// and messages), truncation for regenerate and edit, cascade on delete, citations kept, two stores
// sharing one database; then what only one store has: a file that is not a database refused by
// name, malformed and unreachable addresses said plainly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "session/conversations.h"
#include "support/services.h"

using namespace hayate;
using namespace hayate::session;

namespace {

// One server of each kind for the whole program; each test gets a clean database on it.
test::RedisServer* redis_server() {
  static auto server = std::make_unique<test::RedisServer>();
  return server.get();
}
test::PostgresServer* postgres_server() {
  static auto server = std::make_unique<test::PostgresServer>();
  return server.get();
}

class Conversations : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    static int redis_databases = 0, postgres_databases = 0;
    if (GetParam() == "sqlite") {
      spec_ = ":memory:";
    } else if (GetParam() == "redis") {
      if (test::RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh)";
      const int n = redis_databases++;
      ASSERT_LT(n, 16) << "redis has 16 databases; use FLUSHDB for more tests";
      spec_ = redis_server()->url() + "/" + std::to_string(n);
    } else {
      if (test::PostgresServer::bin_dir().empty()) GTEST_SKIP() << "postgresql is not installed (scripts/setup.sh)";
      spec_ = postgres_server()->create_database("conv" + std::to_string(postgres_databases++));
    }
  }
  // A SQLite memory database is one connection's own: a second store needs a file.
  std::unique_ptr<ConversationStore> open() { return open_conversations(spec_); }
  std::string spec_;
};

INSTANTIATE_TEST_SUITE_P(Stores, Conversations, ::testing::Values("sqlite", "redis", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(Conversations, CreateAppendAndReadBackInOrder) {
  auto s = open();
  const ConversationInfo c = s->create("First", "Be brief.", R"({"temperature":0.2})");
  EXPECT_EQ(c.id.rfind("conv-", 0), 0u);
  s->append(c.id, "user", "hello");
  s->append(c.id, "assistant", "hi there");
  const auto got = s->get(c.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->title, "First");
  EXPECT_EQ(got->system_prompt, "Be brief.");
  EXPECT_EQ(got->settings, R"({"temperature":0.2})");
  EXPECT_EQ(got->messages, 2);
  const auto msgs = s->messages(c.id);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].role, "user");
  EXPECT_EQ(msgs[1].content, "hi there");
}

TEST_P(Conversations, UnknownIdsAreSaid) {
  auto s = open();
  EXPECT_FALSE(s->get("conv-nope"));
  EXPECT_FALSE(s->remove("conv-nope"));
  EXPECT_FALSE(s->update("conv-nope", {std::string("t"), {}, {}}));
  try {
    s->append("conv-nope", "user", "x");
    FAIL() << "append to an unknown conversation must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("conv-nope"), std::string::npos);
  }
}

TEST_P(Conversations, SearchMatchesTitlesAndMessagesLiterally) {
  auto s = open();
  const auto a = s->create("Rivers of Velmora", "", "{}");
  const auto b = s->create("Other", "", "{}");
  s->append(b.id, "user", "what is 100% of the towns_list?");
  EXPECT_EQ(s->list("", 10).size(), 2u);
  auto r = s->list("velmora", 10);  // LIKE is case-insensitive for ASCII
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].id, a.id);
  r = s->list("100%", 10);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].id, b.id);
  EXPECT_TRUE(s->list("s_l", 10).size() == 1u);  // '_' is a character, not a wildcard
  EXPECT_TRUE(s->list("x%y", 10).empty());
  EXPECT_EQ(s->list("", 1).size(), 1u);
}

TEST_P(Conversations, TruncateKeepsTheFirstMessages) {
  auto s = open();
  const auto c = s->create("t", "", "{}");
  for (const char* m : {"m0", "m1", "m2", "m3", "m4"}) s->append(c.id, m[1] % 2 ? "assistant" : "user", m);
  s->truncate(c.id, 3);
  const auto msgs = s->messages(c.id);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs.back().content, "m2");
  s->truncate(c.id, 0);
  EXPECT_TRUE(s->messages(c.id).empty());
}

TEST_P(Conversations, UpdateAndDeleteCascade) {
  auto s = open();
  const auto c = s->create("old", "", "{}");
  s->append(c.id, "user", "x");
  ASSERT_TRUE(s->update(c.id, {std::string("new"), std::string("sys"), std::nullopt}));
  EXPECT_EQ(s->get(c.id)->title, "new");
  EXPECT_EQ(s->get(c.id)->system_prompt, "sys");
  EXPECT_EQ(s->get(c.id)->settings, "{}");
  EXPECT_TRUE(s->remove(c.id));
  EXPECT_FALSE(s->get(c.id));
  EXPECT_TRUE(s->messages(c.id).empty());
}

TEST_P(Conversations, NewestFirst) {
  auto s = open();
  const auto a = s->create("older", "", "{}");
  const auto b = s->create("newer", "", "{}");
  const auto all = s->list("", 10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, b.id);
  EXPECT_EQ(all[1].id, a.id);
  EXPECT_EQ(s->list("", 0).size(), 0u);
}

// A RAG answer's sources come back with it (a reload shows them); other messages have none.
TEST_P(Conversations, CitationsComeBackWithTheirMessage) {
  auto s = open();
  const auto c = s->create("t", "", "{}");
  const std::string cited = R"([{"source":"milo.txt","text":"Milo is the miller."}])";
  s->append(c.id, "user", "Who is Milo?");
  s->append(c.id, "assistant", "The miller.", cited);
  const auto msgs = s->messages(c.id);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].citations, "");
  EXPECT_EQ(msgs[1].citations, cited);
}

// Two stores on one database stand for two servers sharing it: one sees what the other wrote.
TEST_P(Conversations, TwoStoresShareOneDatabase) {
  const auto dir = std::filesystem::path(test::temp_path("shared"));
  if (GetParam() == "sqlite") {
    std::filesystem::create_directories(dir);
    spec_ = (dir / "c.db").string();
  }
  {
    auto a = open();
    auto b = open();
    const auto c = a->create("shared", "", "{}");
    a->append(c.id, "user", "from a");
    b->append(c.id, "assistant", "from b");
    EXPECT_EQ(a->messages(c.id).size(), 2u);
    EXPECT_EQ(b->get(c.id)->title, "shared");
    EXPECT_EQ(b->list("FROM A", 10).size(), 1u);
    EXPECT_TRUE(b->remove(c.id));
    EXPECT_FALSE(a->get(c.id));
  }
  std::filesystem::remove_all(dir);
}

void expect_error(const std::string& spec, ErrorKind kind, const std::string& said) {
  try {
    open_conversations(spec);
    ADD_FAILURE() << spec << " must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(said), std::string::npos) << e.what();
  }
}

TEST(ConversationStores, MalformedAddressesAreSaid) {
  expect_error("redis://127.0.0.1:http", ErrorKind::BadInput, "the port must be 1 to 65535");
  expect_error("redis://127.0.0.1:70000", ErrorKind::BadInput, "the port must be 1 to 65535");
  expect_error("redis://127.0.0.1:6379/x", ErrorKind::BadInput, "the database after '/' must be a number");
  expect_error("redis://:6379", ErrorKind::BadInput, "no host");
}

// A server that does not answer is Unavailable (503), naming it; nothing listens on a free port.
TEST(ConversationStores, UnreachableServersAreSaid) {
  const std::string port = std::to_string(test::free_port());
  expect_error("redis://127.0.0.1:" + port, ErrorKind::Unavailable, "redis://127.0.0.1:" + port + " cannot be reached");
  expect_error("postgresql://hayate@127.0.0.1:" + port + "/x", ErrorKind::Unavailable, "PostgreSQL cannot be reached");
}

// Two stores on one file stand for two servers sharing it: one sees what the other wrote.
TEST(SqliteConversations, TwoStoresShareAFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / std::string("conv-test-").append(std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "c.db").string();
  {
    auto a = open_sqlite_conversations(path);
    auto b = open_sqlite_conversations(path);
    const auto c = a->create("shared", "", "{}");
    a->append(c.id, "user", "from a");
    b->append(c.id, "assistant", "from b");
    EXPECT_EQ(a->messages(c.id).size(), 2u);
    EXPECT_EQ(b->get(c.id)->title, "shared");
  }
  std::filesystem::remove_all(dir);
}

TEST(SqliteConversations, ANonDatabaseFileIsRefusedByName) {
  const auto dir = std::filesystem::temp_directory_path() / std::string("conv-bad-").append(std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "not.db").string();
  {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("this is not sqlite, just some text long enough to have a header page", f);
    std::fclose(f);
  }
  try {
    open_sqlite_conversations(path);
    FAIL() << "a text file must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
