// HAYATE_PROFILE's accumulators: sums and counts per name, the table, and one table per burst.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/profile.h"

namespace hayate {
namespace {

TEST(Profile, SumsPrintsAndStartsOver) {
  setenv("HAYATE_PROFILE", "1", 1);  // read once, at the first call
  ASSERT_TRUE(profile::enabled());
  profile::reset();
  profile::add("engine step", 0.010);
  profile::add("engine step", 0.030);
  profile::add("gpu matmul batched", 0.020, 7);
  { profile::Timer t("engine schedule"); }
  const std::string table = profile::report();
  EXPECT_NE(table.find("engine step"), std::string::npos) << table;
  EXPECT_NE(table.find("0.0400"), std::string::npos) << "total of the two steps\n" << table;
  EXPECT_NE(table.find("50.0%"), std::string::npos) << "gpu matmul's share of the steps\n" << table;
  EXPECT_NE(table.find("engine schedule"), std::string::npos) << table;
  // Host rows come before device rows.
  EXPECT_LT(table.find("engine schedule"), table.find("gpu matmul batched")) << table;
  testing::internal::CaptureStderr();
  profile::print_and_reset("burst one");
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_NE(printed.find("burst one"), std::string::npos);
  EXPECT_NE(printed.find("gpu matmul batched"), std::string::npos);
  EXPECT_EQ(profile::report(), "") << "print_and_reset starts over";
}

}  // namespace
}  // namespace hayate
