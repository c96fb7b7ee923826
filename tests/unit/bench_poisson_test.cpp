#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "bench/poisson.h"

namespace hayate::bench {

TEST(BenchPoisson, MeanRateAndSpreadMatchAPoissonProcess) {
  constexpr double kRate = 40;
  constexpr int kN = 40000;
  PoissonArrivals arrivals(kRate, 7);
  std::vector<double> gaps;
  double last = 0;
  for (int i = 0; i < kN; ++i) {
    const double t = arrivals.next();
    ASSERT_GT(t, last);  // strictly increasing times
    gaps.push_back(t - last);
    last = t;
  }
  // Rate: the standard error of the mean of 40000 exponential gaps is 0.5%; allow 2%.
  EXPECT_NEAR(kN / last, kRate, kRate * 0.02);
  // Exponential gaps: standard deviation equal to the mean (coefficient of variation 1).
  double mean = last / kN, sq = 0;
  for (double g : gaps) sq += (g - mean) * (g - mean);
  EXPECT_NEAR(std::sqrt(sq / (kN - 1)) / mean, 1.0, 0.03);
  // Counts in one-second windows: variance equal to the mean (index of dispersion 1).
  std::vector<int> counts(static_cast<size_t>(last) + 1, 0);
  double t = 0;
  for (double g : gaps) counts[static_cast<size_t>(t += g)]++;
  counts.pop_back();  // the last window is partial
  double cm = 0, cv = 0;
  for (int c : counts) cm += c;
  cm /= counts.size();
  for (int c : counts) cv += (c - cm) * (c - cm);
  cv /= counts.size() - 1;
  EXPECT_NEAR(cv / cm, 1.0, 0.15);
}

TEST(BenchPoisson, SameSeedSameScheduleOtherSeedAnother) {
  PoissonArrivals a(5, 42), b(5, 42), c(5, 43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const double ta = a.next(), tb = b.next(), tc = c.next();
    EXPECT_DOUBLE_EQ(ta, tb);
    differs |= ta != tc;
  }
  EXPECT_TRUE(differs);
}

}  // namespace hayate::bench
