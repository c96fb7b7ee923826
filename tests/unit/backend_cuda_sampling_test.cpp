// The CUDA backend's top_logits against the order the host sampler uses (logit, then the lower
// id), and the sampler fed from it against the sampler fed the whole row: the same ids, draws
// and log-probabilities. Fresh random rows with planted ties, -inf and NaN; skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "engine/sampler.h"

namespace hayate {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_rows(int rows, int n_vocab, uint32_t seed) {
  std::vector<float> v = test::random_floats(static_cast<size_t>(rows) * n_vocab, seed, 3.0f);
  std::mt19937 rng(seed + 1);
  for (int r = 0; r < rows; ++r) {
    float* row = v.data() + static_cast<size_t>(r) * n_vocab;
    const int best = static_cast<int>(rng() % n_vocab);
    row[best] = 12.0f;  // a clear maximum, and copies of it and of other values: ties
    for (int i = 0; i < 5; ++i) row[rng() % n_vocab] = 12.0f;
    for (int i = 0; i < 40; ++i) row[rng() % n_vocab] = row[rng() % n_vocab];
    for (int i = 0; i < 30; ++i) row[rng() % n_vocab] = -kInf;
  }
  return v;
}

struct Expected {
  std::vector<int32_t> ids;
  double log_norm = 0;
  int32_t n_finite = 0;
};

Expected expected(const float* row, int n_vocab, int k) {
  Expected e;
  std::vector<int32_t> ids;
  float max = -kInf;
  for (int i = 0; i < n_vocab; ++i)
    if (row[i] != -kInf) {
      ids.push_back(i);
      max = std::max(max, row[i]);
    }
  e.n_finite = static_cast<int32_t>(ids.size());
  std::sort(ids.begin(), ids.end(),
            [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  ids.resize(std::min(ids.size(), static_cast<size_t>(k)));
  e.ids = ids;
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += row[i] == -kInf ? 0.0 : std::exp(row[i] - max);
  e.log_norm = max + std::log(sum);
  return e;
}

TEST(CudaTopLogits, MatchTheHostOrder) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  ASSERT_EQ(be->max_top_logits(), 128);
  for (const int n_vocab : {128256, 5000, 100}) {
    for (const int k : {1, 40, 128}) {
      const int rows = 6;
      std::vector<float> host = random_rows(rows, n_vocab, static_cast<uint32_t>(n_vocab + k));
      // Row 4 keeps only 10 finite logits; row 5 a NaN.
      std::fill(host.begin() + 4 * n_vocab + 10, host.begin() + 5 * n_vocab, -kInf);
      host[5 * static_cast<size_t>(n_vocab) + 3] = std::numeric_limits<float>::quiet_NaN();
      be->reset_scratch();
      Tensor t = test::upload(*be, host, rows, n_vocab);
      const std::vector<int32_t> pick = {3, 0, 1, 2, 4, 5};
      std::vector<TopLogits> got;
      be->top_logits(t, pick, k, got);
      ASSERT_EQ(got.size(), pick.size());
      for (size_t i = 0; i + 1 < pick.size(); ++i) {
        const float* row = host.data() + static_cast<size_t>(pick[i]) * n_vocab;
        const Expected e = expected(row, n_vocab, k);
        const TopLogits& g = got[i];
        SCOPED_TRACE("vocab " + std::to_string(n_vocab) + " k " + std::to_string(k) + " row " +
                     std::to_string(pick[i]));
        EXPECT_TRUE(g.ok);
        EXPECT_EQ(g.n_finite, e.n_finite);
        EXPECT_EQ(g.ids, e.ids);
        ASSERT_EQ(g.logits.size(), g.ids.size());
        for (size_t j = 0; j < g.ids.size() && j < e.ids.size(); ++j) EXPECT_EQ(g.logits[j], row[e.ids[j]]);
        EXPECT_NEAR(g.log_norm, e.log_norm, 1e-5 * std::max(1.0, std::fabs(e.log_norm)));
      }
      EXPECT_FALSE(got.back().ok) << "a NaN must make the row unusable, so the host path reports it";
    }
  }
  be->reset_scratch();
  Tensor all_inf = test::upload(*be, std::vector<float>(300, -kInf), 1, 300);
  std::vector<TopLogits> got;
  be->top_logits(all_inf, std::vector<int32_t>{0}, 5, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].ok);
  EXPECT_EQ(got[0].n_finite, 0);
  EXPECT_THROW(be->top_logits(all_inf, std::vector<int32_t>{0}, 129, got), Error);
  EXPECT_THROW(be->top_logits(all_inf, std::vector<int32_t>{1}, 5, got), Error);
}

// The sampler on device top logits against the sampler on the downloaded row, greedy and
// sampled with the same seed, over many rows of a Llama-3-sized vocabulary.
TEST(CudaTopLogits, SamplerPicksTheSameTokens) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  const int rows = 64, n_vocab = 128256;
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.n_logprobs = 4;
  SamplingParams sampled;
  sampled.temperature = 0.7f;
  sampled.top_k = 40;
  sampled.top_p = 0.9f;
  sampled.min_p = 0.02f;
  sampled.seed = 1234;
  sampled.n_logprobs = 2;
  for (const SamplingParams& p : {greedy, sampled}) {
    Sampler whole(p), top(p);
    const int32_t k = top.top_candidates(be->max_top_logits());
    ASSERT_GT(k, 0);
    for (int round = 0; round < 3; ++round) {
      const std::vector<float> host = random_rows(rows, n_vocab, static_cast<uint32_t>(500 + round));
      be->reset_scratch();
      Tensor t = test::upload(*be, host, rows, n_vocab);
      std::vector<int32_t> all(rows);
      for (int i = 0; i < rows; ++i) all[i] = i;
      std::vector<TopLogits> got;
      be->top_logits(t, all, k, got);
      for (int i = 0; i < rows; ++i) {
        const SampleResult a = whole.sample(host.data() + static_cast<size_t>(i) * n_vocab, n_vocab, {}, {});
        ASSERT_TRUE(got[i].ok);
        const SampleResult b = top.sample_top(got[i]);
        ASSERT_EQ(a.id, b.id) << "row " << i << " round " << round << " temperature " << p.temperature;
        EXPECT_NEAR(a.logprob, b.logprob, 1e-5);
        ASSERT_EQ(a.top.size(), b.top.size());
        for (size_t j = 0; j < a.top.size(); ++j) EXPECT_EQ(a.top[j].id, b.top[j].id);
      }
    }
  }
}

}  // namespace
}  // namespace hayate
