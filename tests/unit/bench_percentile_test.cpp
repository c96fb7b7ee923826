#include <gtest/gtest.h>

#include <vector>

#include "bench/stats.h"

namespace hayate::bench {

TEST(BenchPercentile, InterpolatesBetweenRanksLikeNumpy) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  const Percentiles p = percentiles(v);
  EXPECT_EQ(p.count, 100u);
  EXPECT_DOUBLE_EQ(p.mean, 50.5);
  EXPECT_DOUBLE_EQ(p.min, 1);
  EXPECT_DOUBLE_EQ(p.max, 100);
  // numpy.percentile(range(1, 101), q) with the default linear method.
  EXPECT_NEAR(p.p50, 50.5, 1e-12);
  EXPECT_NEAR(p.p90, 90.1, 1e-12);
  EXPECT_NEAR(p.p95, 95.05, 1e-12);
  EXPECT_NEAR(p.p99, 99.01, 1e-12);
}

TEST(BenchPercentile, SmallSets) {
  const std::vector<double> one = {7};
  const Percentiles p1 = percentiles(one);
  EXPECT_EQ(p1.count, 1u);
  EXPECT_DOUBLE_EQ(p1.p50, 7);
  EXPECT_DOUBLE_EQ(p1.p99, 7);

  const std::vector<double> two = {10, 20};
  const Percentiles p2 = percentiles(two);
  EXPECT_DOUBLE_EQ(p2.p50, 15);
  EXPECT_DOUBLE_EQ(p2.p90, 19);
  EXPECT_DOUBLE_EQ(p2.min, 10);
  EXPECT_DOUBLE_EQ(p2.max, 20);

  const Percentiles none = percentiles(std::vector<double>{});
  EXPECT_EQ(none.count, 0u);
  EXPECT_DOUBLE_EQ(none.p99, 0);
}

TEST(BenchPercentile, QuantileClampsAndHandlesEnds) {
  const std::vector<double> sorted = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile_sorted(sorted, 0), 1);
  EXPECT_DOUBLE_EQ(quantile_sorted(sorted, 1), 4);
  EXPECT_DOUBLE_EQ(quantile_sorted(sorted, 2), 4);
  EXPECT_DOUBLE_EQ(quantile_sorted(sorted, -1), 1);
  EXPECT_DOUBLE_EQ(quantile_sorted(sorted, 0.5), 2.5);
}

TEST(BenchPercentile, SummarizeKeepsItsApi) {
  const std::vector<double> v = {1, 2, 3, 4};
  const Stats s = summarize(v);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
}

}  // namespace hayate::bench
