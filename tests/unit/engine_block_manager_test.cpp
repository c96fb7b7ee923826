#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/block_manager.h"

namespace hayate {
namespace {

TEST(BlockManager, AllocatesEveryBlockOnceThenRunsOut) {
  BlockManager m(4);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(m.allocate());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(m.allocate(), -1);
  EXPECT_EQ(m.n_free(), 0);
}

TEST(BlockManager, SharedBlockIsFreedByTheLastRelease) {
  BlockManager m(2);
  const int32_t b = m.allocate();
  m.retain(b);
  EXPECT_EQ(m.refs(b), 2);
  m.release(b);
  EXPECT_EQ(m.n_free(), 1);
  m.release(b);
  EXPECT_EQ(m.n_free(), 2);
  EXPECT_THROW(m.release(b), Error);
  EXPECT_THROW(m.retain(b), Error);
  EXPECT_THROW(m.release(7), Error);
}

TEST(BlockManager, ActiveCountsEveryHolderButTheCache) {
  BlockManager m(3);
  const int32_t a = m.allocate(), b = m.allocate();
  EXPECT_EQ(m.n_active(), 2);
  m.retain_for_cache(a);  // a sequence and the cache hold a
  EXPECT_EQ(m.n_active(), 2);
  EXPECT_THROW(m.retain_for_cache(a), Error) << "the cache holds a block once";
  m.release(a);  // the sequence lets go: only the cache holds it
  EXPECT_EQ(m.n_active(), 1);
  EXPECT_THROW(m.release(a), Error) << "a sequence cannot drop the cache's reference";
  m.retain(a);  // a later sequence reuses the cached block
  EXPECT_EQ(m.n_active(), 2);
  m.release(a);
  m.release(b);
  EXPECT_EQ(m.n_active(), 0);
  EXPECT_EQ(m.n_free(), 2);
  m.release_from_cache(a);
  EXPECT_EQ(m.n_free(), 3);
  EXPECT_EQ(m.n_active(), 0);
  EXPECT_THROW(m.release_from_cache(a), Error);
}

}  // namespace
}  // namespace hayate
