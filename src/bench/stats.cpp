#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hayate::bench {

Stats summarize(std::span<const double> values) {
  Stats s;
  const size_t n = values.size();
  if (n == 0) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(n);
  if (n > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(squares / static_cast<double>(n - 1));
  }
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  s.median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return s;
}

double quantile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(below);
  return sorted[below] + (sorted[above] - sorted[below]) * frac;
}

Percentiles percentiles(std::span<const double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double v : sorted) sum += v;
  p.count = sorted.size();
  p.mean = sum / static_cast<double>(p.count);
  p.min = sorted.front();
  p.max = sorted.back();
  p.p50 = quantile_sorted(sorted, 0.50);
  p.p90 = quantile_sorted(sorted, 0.90);
  p.p95 = quantile_sorted(sorted, 0.95);
  p.p99 = quantile_sorted(sorted, 0.99);
  return p;
}

}  // namespace hayate::bench
