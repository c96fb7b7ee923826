#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include "core/error.h"

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

}  // namespace
}  // namespace hayate
