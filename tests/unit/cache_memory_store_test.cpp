// The in-process cache store: LRU order under entry and byte limits, TTL on a hand-moved clock,
// compressed values, and persistence that survives a restart and shrugs off a damaged file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "cache/cache.h"
#include "cache/memory_store.h"
#include "cache/zstd_util.h"
#include "core/error.h"
#include "support/test_util.h"

namespace hayate::cache {
namespace {

MemoryLimits limits(int64_t entries, int64_t bytes = 0, bool compress = false, std::string path = "") {
  MemoryLimits l;
  l.max_entries = entries;
  l.max_bytes = bytes;
  l.compress = compress;
  l.persist_path = std::move(path);
  return l;
}

struct FakeClock {
  std::shared_ptr<double> now = std::make_shared<double>(1000.0);
  MemoryStore::Clock fn() const {
    return [n = now] { return *n; };
  }
};

TEST(MemoryStore, EvictsLeastRecentlyUsedPastTheEntryLimit) {
  MemoryStore s(limits(2));
  s.put("a", "1", 0);
  s.put("b", "2", 0);
  ASSERT_EQ(s.get("a"), "1");  // a is now the most recent
  s.put("c", "3", 0);
  EXPECT_EQ(s.get("a"), "1");
  EXPECT_EQ(s.get("b"), std::nullopt);
  EXPECT_EQ(s.get("c"), "3");
  EXPECT_EQ(s.stats("").entries, 2);
  EXPECT_EQ(s.stats("").evictions, 1);
}

TEST(MemoryStore, EvictsPastTheByteLimitAndCountsBytes) {
  MemoryStore s(limits(0, 100));
  s.put("k1", std::string(40, 'x'), 0);
  s.put("k2", std::string(40, 'y'), 0);
  EXPECT_EQ(s.stats("").bytes, 84);
  s.put("k3", std::string(40, 'z'), 0);
  EXPECT_EQ(s.get("k1"), std::nullopt);
  EXPECT_EQ(s.stats("").bytes, 84);
  EXPECT_EQ(s.stats("").evictions, 1);
  s.put("k2", "short", 0);  // replacing a value updates the byte count
  EXPECT_EQ(s.stats("").bytes, 49);
}

TEST(MemoryStore, EntriesExpireAfterTheirTtl) {
  FakeClock clock;
  MemoryStore s(MemoryLimits{}, clock.fn());
  s.put("short", "v", 10);
  s.put("forever", "w", 0);
  *clock.now += 9.5;
  EXPECT_EQ(s.get("short"), "v");
  *clock.now += 1;
  EXPECT_EQ(s.get("short"), std::nullopt);
  EXPECT_EQ(s.get("forever"), "w");
  EXPECT_EQ(s.stats("").expired, 1);
  EXPECT_EQ(s.stats("").entries, 1);
}

TEST(MemoryStore, CompressesLargeValuesAndReturnsThemIntact) {
  MemoryStore s(limits(1000, 0, true));
  std::string big;
  for (int i = 0; i < 1000; ++i) big += "the same sentence again and again. ";
  s.put("big", big, 0);
  s.put("small", "tiny", 0);
  EXPECT_EQ(s.get("big"), big);
  EXPECT_EQ(s.get("small"), "tiny");
  EXPECT_LT(s.stats("").bytes, static_cast<int64_t>(big.size()) / 10);  // kept compressed
}

TEST(MemoryStore, ClearAndStatsByPrefix) {
  MemoryStore s;
  s.put("hayate:a:1", "x", 0);
  s.put("hayate:a:2", "x", 0);
  s.put("hayate:b:1", "x", 0);
  EXPECT_EQ(s.stats("hayate:a:").entries, 2);
  EXPECT_EQ(s.clear("hayate:a:"), 2);
  EXPECT_EQ(s.stats("").entries, 1);
  EXPECT_EQ(s.get("hayate:b:1"), "x");
}

TEST(MemoryStore, PersistsAcrossARestartWithoutTheExpiredOrTheTemporaryFile) {
  const std::string path = test::temp_path("cache.bin." + std::to_string(::getpid()));
  std::filesystem::remove(path);
  FakeClock clock;
  {
    MemoryStore s(limits(1000, 0, true, path), clock.fn());
    s.put("old", "1", 0);
    s.put("new", std::string(1000, 'n'), 0);
    s.put("soon", "2", 5);
    *clock.now += 6;
  }  // the destructor saves
  ASSERT_TRUE(std::filesystem::exists(path));
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
    EXPECT_EQ(e.path().string().find(path + ".tmp"), std::string::npos) << e.path();
  MemoryStore s(limits(1, 0, false, path), clock.fn());
  // The most recently used entry is the one kept under a smaller limit.
  EXPECT_EQ(s.get("new"), std::string(1000, 'n'));
  EXPECT_EQ(s.get("old"), std::nullopt);
  EXPECT_EQ(s.get("soon"), std::nullopt);
}

TEST(MemoryStore, ADamagedFileStartsEmptyInsteadOfFailing) {
  const std::string path = test::temp_path("cache.bin." + std::to_string(::getpid()));
  {
    MemoryStore s(limits(1000, 0, false, path));
    s.put("k", std::string(500, 'v'), 0);
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  bytes[bytes.size() - 3] ^= 0x5a;  // inside the zstd frame: its checksum catches it
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  MemoryStore damaged(limits(1000, 0, false, path));
  EXPECT_EQ(damaged.get("k"), std::nullopt);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a cache file";
  MemoryStore foreign(limits(1000, 0, false, path));
  EXPECT_EQ(foreign.stats("").entries, 0);
}

TEST(Zstd, RejectsADamagedFrame) {
  std::string frame = zstd_compress(std::string(300, 'a') + "b", 3);
  EXPECT_EQ(zstd_decompress(frame), std::string(300, 'a') + "b");
  frame[frame.size() - 1] ^= 1;
  EXPECT_THROW(zstd_decompress(frame), Error);
  EXPECT_THROW(zstd_decompress("nonsense"), Error);
}

TEST(Cache, NamesEntriesPerCacheAndCountsHitsAndMisses) {
  auto store = std::make_shared<MemoryStore>();
  Cache responses("response", store, 0), embeddings("embedding", store, 0);
  responses.put("question", "answer");
  EXPECT_EQ(responses.get("question"), "answer");
  EXPECT_EQ(embeddings.get("question"), std::nullopt);  // another cache's namespace
  EXPECT_EQ(responses.get("other"), std::nullopt);
  const CacheStats st = responses.stats();
  EXPECT_EQ(st.hits, 1);
  EXPECT_EQ(st.misses, 1);
  EXPECT_EQ(st.puts, 1);
  EXPECT_EQ(st.stored.entries, 1);
  EXPECT_DOUBLE_EQ(st.hit_rate(), 0.5);
  int64_t lookups = 0;
  for (int64_t n : st.latency_buckets) lookups += n;
  EXPECT_EQ(lookups, 2);
  embeddings.put("x", "y");
  EXPECT_EQ(responses.clear(), 1);
  EXPECT_EQ(embeddings.get("x"), "y");
}

TEST(MakeStore, ParsesSpecsAndRejectsOthersClearly) {
  EXPECT_EQ(make_store("memory")->name(), "memory");
  EXPECT_EQ(make_store("redis://127.0.0.1:6390/2")->name(), "redis://127.0.0.1:6390");
  try {
    make_store("memcached://x");
    FAIL() << "accepted an unknown store";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("redis://HOST:PORT"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_store("redis://127.0.0.1:http"), Error);
  EXPECT_THROW(make_store("redis://127.0.0.1:99999"), Error);
  EXPECT_THROW(make_store("redis://127.0.0.1:6379/x"), Error);
}

}  // namespace
}  // namespace hayate::cache
