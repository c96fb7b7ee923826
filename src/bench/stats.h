// Summary statistics of repeated measurements, as llama-bench reports them.
#pragma once

#include <span>

namespace hayate::bench {

struct Stats {
  double mean = 0;
  double stddev = 0;  // sample standard deviation (n - 1); 0 for fewer than two values
  double median = 0;  // the mean of the middle two for an even count
};

// All zero for no values.
Stats summarize(std::span<const double> values);

}  // namespace hayate::bench
