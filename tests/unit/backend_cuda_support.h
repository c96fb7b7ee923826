// Shared by the CUDA backend tests: the skip when no GPU can run them, and host <-> device
// helpers over the Backend interface (inputs poisoned with NaN so an unwritten output shows).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"

#define HAYATE_SKIP_WITHOUT_CUDA()                                                             \
  do {                                                                                         \
    if (!::hayate::cuda_built()) GTEST_SKIP() << "this build has no CUDA backend (no nvcc)";   \
    if (::hayate::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible; skipped"; \
  } while (0)

namespace hayate::test {

// Sets an environment variable for a scope (the CUDA backend reads its HAYATE_CUDA_* switches when
// it is made), then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline Tensor upload(Backend& be, const std::vector<float>& host, int64_t rows, int64_t cols) {
  Tensor t = be.alloc(rows, cols);
  be.from_host(host.data(), t);
  return t;
}

// An output tensor filled with NaN, so that any element the kernel leaves unwritten fails.
inline Tensor poisoned(Backend& be, int64_t rows, int64_t cols) {
  return upload(be, std::vector<float>(static_cast<size_t>(rows * cols), std::numeric_limits<float>::quiet_NaN()), rows,
                cols);
}

inline std::vector<float> download(Backend& be, Tensor t) {
  std::vector<float> v(static_cast<size_t>(t.rows * t.cols));
  be.to_host(t, v.data());
  return v;
}

inline bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// ||a - b|| / ||b|| over the whole array.
inline double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  if (a.size() != b.size()) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace hayate::test
