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
#include "forward/forward.h"
#include "model/model.h"
#include "quant/quant.h"
#include "support/test_util.h"

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

// A weight on the host: `rows` x `cols` normal values (sigma 0.5, from `seed`) quantized to `type`.
struct HostWeight {
  std::vector<uint8_t> bytes;
  Weight w;
};

inline HostWeight make_weight(GgmlType type, int64_t rows, int64_t cols, uint32_t seed, const std::string& name) {
  const std::vector<float> f = random_floats(static_cast<size_t>(rows * cols), seed, 0.5f);
  HostWeight h;
  h.bytes.resize(ggml_row_size(type, cols) * static_cast<size_t>(rows));
  quant::quantize_matrix(type, f.data(), h.bytes.data(), rows, cols);
  h.w = Weight{name, type, cols, rows, h.bytes.data()};
  return h;
}

// Logits of every position against the reference's: each row within `max_err` relative, and the
// top-1 agreeing on at least `min_top1` of the rows (the families and MoE tests: 1e-2, 99%).
inline void expect_logits_close(const std::vector<float>& got, const std::vector<float>& want, size_t v,
                                const std::string& what, double max_err = 1e-2, double min_top1 = 0.99) {
  ASSERT_EQ(got.size(), want.size()) << what;
  ASSERT_TRUE(all_finite(got)) << what;
  const size_t rows = want.size() / v;
  size_t top1 = 0;
  for (size_t p = 0; p < rows; ++p) {
    EXPECT_LE(max_relative_error(got.data() + p * v, want.data() + p * v, v), max_err) << what << " row " << p;
    top1 += argmax(got.data() + p * v, v) == argmax(want.data() + p * v, v);
  }
  EXPECT_GE(static_cast<double>(top1), min_top1 * static_cast<double>(rows)) << what;
}

// Greedy decoding of `n_new` tokens after `prompt`, in one sequence of 8 blocks out of order. With
// `first_step` > 0 the prompt goes in two steps, the first (its first `first_step` tokens) wanting
// no logits, so that it never reaches to_host.
inline std::vector<int32_t> greedy_tokens(const Model& m, Backend& be, int n_new, const std::vector<int32_t>& prompt,
                                          size_t first_step = 0) {
  auto kv = be.make_kv_cache(m.hp, 8, 16);
  const std::vector<int32_t> table = {5, 2, 7, 0, 1, 3, 4, 6};
  Batch first, second;
  first.sequences.push_back({table});
  second.sequences.push_back({table});
  for (size_t i = 0; i < prompt.size(); ++i)
    (i < first_step ? first : second).add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  if (first_step > 0) {
    EXPECT_TRUE(forward(m, first, *kv, be).empty());
  }
  std::vector<float> logits = forward(m, second, *kv, be);
  const size_t v = static_cast<size_t>(m.hp.n_vocab);
  std::vector<int32_t> out;
  for (int i = 0; i < n_new; ++i) {
    const auto next = static_cast<int32_t>(argmax(logits.data(), v));
    out.push_back(next);
    Batch b;
    b.sequences.push_back({table});
    b.add(next, static_cast<int32_t>(prompt.size() + out.size() - 1), 0, true);
    logits = forward(m, b, *kv, be);
  }
  return out;
}

}  // namespace hayate::test
