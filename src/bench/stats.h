// Summary statistics of repeated measurements, as llama-bench reports them.
#pragma once

#include <cstddef>
#include <span>

namespace hayate::bench {

struct Stats {
  double mean = 0;
  double stddev = 0;  // sample standard deviation (n - 1); 0 for fewer than two values
  double median = 0;  // the mean of the middle two for an even count
};

// All zero for no values.
Stats summarize(std::span<const double> values);

// The distribution of latencies as serving benchmarks report it.
struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, min = 0, max = 0;
  size_t count = 0;
};

// The q-quantile (0 <= q <= 1) of sorted values, interpolated linearly between the two nearest
// ranks (numpy's default, "linear"); 0 for no values.
double quantile_sorted(std::span<const double> sorted, double q);

// All zero (count 0) for no values.
Percentiles percentiles(std::span<const double> values);

}  // namespace hayate::bench
