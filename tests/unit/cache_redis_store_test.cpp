// The Redis store against a real redis-server of the test's own (tests/support/services.h):
// values and TTLs round-trip, two stores share entries, and a Redis that goes away is a miss and a
// warning, never an exception.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cache/cache.h"
#include "cache/redis_store.h"
#include "support/services.h"

namespace hayate::cache {
namespace {

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::RedisServer::binary().empty())
      GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh installs it)";
    redis_ = std::make_unique<test::RedisServer>();
  }
  std::unique_ptr<test::RedisServer> redis_;
};

TEST_F(RedisStoreTest, RoundTripsBinaryValuesAndClearsByPrefix) {
  auto store = make_store(redis_->url());
  const std::string binary("a\0b\xff\r\n", 6);
  store->put("hayate:t:1", binary, 0);
  store->put("hayate:t:2", "two", 0);
  store->put("hayate:u:1", "other", 0);
  EXPECT_EQ(store->get("hayate:t:1"), binary);
  EXPECT_EQ(store->get("hayate:t:missing"), std::nullopt);
  EXPECT_EQ(store->stats("hayate:t:").entries, 2);
  EXPECT_TRUE(store->stats("hayate:t:").available);
  EXPECT_EQ(store->clear("hayate:t:"), 2);
  EXPECT_EQ(store->get("hayate:t:2"), std::nullopt);
  EXPECT_EQ(store->get("hayate:u:1"), "other");
  store->erase("hayate:u:1");
  EXPECT_EQ(store->get("hayate:u:1"), std::nullopt);
}

TEST_F(RedisStoreTest, RedisKeepsTheTtl) {
  auto store = make_store(redis_->url());
  store->put("k", "v", 0.05);
  // Redis expires it; polled rather than slept for a fixed time, so a busy machine cannot fail it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store->get("k") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(store->get("k"), std::nullopt);
}

TEST_F(RedisStoreTest, TwoCachesOnOneRedisShareEntries) {
  Cache a("response", make_store(redis_->url()), 60), b("response", make_store(redis_->url()), 60);
  a.put("request", "response body");
  EXPECT_EQ(b.get("request"), "response body");
  EXPECT_EQ(b.stats().hits, 1);
}

TEST_F(RedisStoreTest, AStoppedRedisIsAMissNotAnError) {
  Cache c("response", make_store(redis_->url()), 60);
  c.put("k", "v");
  ASSERT_EQ(c.get("k"), "v");
  redis_->stop();
  EXPECT_EQ(c.get("k"), std::nullopt);
  EXPECT_NO_THROW(c.put("k2", "v2"));
  EXPECT_NO_THROW(c.clear());
  EXPECT_FALSE(c.stats().stored.available);
  // Back on the same port: the store reconnects by itself (at most once a second).
  redis_->start(redis_->port());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  c.put("k3", "v3");
  while (!c.get("k3") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    c.put("k3", "v3");
  }
  EXPECT_EQ(c.get("k3"), "v3");
}

}  // namespace
}  // namespace hayate::cache
