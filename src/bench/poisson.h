// Arrival times of a Poisson process (exponentially distributed gaps), seeded so that a rate-mode
// run can be repeated with the same schedule.
#pragma once

#include <cstdint>
#include <random>

namespace hayate::bench {

class PoissonArrivals {
 public:
  // rate: mean arrivals per second (> 0).
  PoissonArrivals(double rate, uint64_t seed) : rng_(seed), gap_(rate) {}
  // Seconds from the start to the next arrival.
  double next() { return t_ += gap_(rng_); }

 private:
  std::mt19937_64 rng_;
  std::exponential_distribution<double> gap_;
  double t_ = 0;
};

}  // namespace hayate::bench
