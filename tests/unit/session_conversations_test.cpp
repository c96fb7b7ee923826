// The conversation store of the web chat: order, search (literal, in titles and messages),
// truncation for regenerate and edit, cascade on delete, two stores sharing one file, and a file
// that is not a database refused by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "session/conversations.h"

using namespace hayate;
using namespace hayate::session;

namespace {

std::unique_ptr<ConversationStore> memory() { return open_sqlite_conversations(":memory:"); }

TEST(Conversations, CreateAppendAndReadBackInOrder) {
  auto s = memory();
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

TEST(Conversations, UnknownIdsAreSaid) {
  auto s = memory();
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

TEST(Conversations, SearchMatchesTitlesAndMessagesLiterally) {
  auto s = memory();
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

TEST(Conversations, TruncateKeepsTheFirstMessages) {
  auto s = memory();
  const auto c = s->create("t", "", "{}");
  for (const char* m : {"m0", "m1", "m2", "m3", "m4"}) s->append(c.id, m[1] % 2 ? "assistant" : "user", m);
  s->truncate(c.id, 3);
  const auto msgs = s->messages(c.id);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs.back().content, "m2");
  s->truncate(c.id, 0);
  EXPECT_TRUE(s->messages(c.id).empty());
}

TEST(Conversations, UpdateAndDeleteCascade) {
  auto s = memory();
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

// Two stores on one file stand for two servers sharing it: one sees what the other wrote.
TEST(Conversations, TwoStoresShareAFile) {
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

TEST(Conversations, ANonDatabaseFileIsRefusedByName) {
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
