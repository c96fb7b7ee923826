// Sampling from a row's top tokens (what a GPU backend sends back instead of the row) gives what
// sampling the whole row gives: the same ids, draws and log-probabilities, on the output
// processor and through the engine. A host backend that offers top_logits (computed here by
// sorting) stands in for the GPU, so this runs everywhere; the CUDA kernels themselves are
// checked against the same order in backend_cuda_kernels_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "backend/cpu/cpu_backends.h"
#include "engine/engine.h"
#include "engine/output.h"
#include "engine/sampler.h"
#include "engine/step_logits.h"
#include "support/engine_support.h"
#include "support/top_logits_ref.h"
#include "support/wrapped_backend.h"

namespace hayate {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The TopLogits of one host row, by the contract of backend.h (tests/support/top_logits_ref.h).
TopLogits host_top(std::span<const float> row, int32_t k) {
  return test::host_top(row.data(), static_cast<int64_t>(row.size()), k);
}

// The reference backend plus top_logits: what a device backend offers, on the host.
class TopBackend : public test::WrappedBackend {
 public:
  TopBackend() : WrappedBackend(make_reference_backend()) {}
  std::string name() const override { return "top"; }
  void to_host(Tensor x, float* dst) override {
    ++rows_to_host;
    inner_->to_host(x, dst);
  }
  int32_t max_top_logits() const override { return 16; }
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override {
    ++top_calls;
    out.clear();
    for (int32_t r : rows)
      out.push_back(
          host_top(std::span<const float>(logits.data + r * logits.cols, static_cast<size_t>(logits.cols)), k));
  }
  int top_calls = 0, rows_to_host = 0;
};

std::vector<float> random_row(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> row(n);
  for (float& x : row) x = d(rng);
  for (size_t i = 7; i < n; i += 97) row[i] = row[3];  // ties, which go to the lower id
  return row;
}

class AnyToken : public Constraint {
 public:
  void mask(std::span<float>) override {}
  bool accept(int32_t) override { return false; }
};

SamplingParams sampled(uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 12;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.seed = seed;
  p.n_logprobs = 5;
  return p;
}

TEST(StepLogits, SampleTopEqualsSampleOnTheWholeRow) {
  std::mt19937 rng(5);
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.n_logprobs = 3;
  for (const SamplingParams& p : {greedy, sampled(77)}) {
    Sampler whole(p), top(p);
    const int32_t k = top.top_candidates(16);
    ASSERT_GT(k, 0);
    for (int i = 0; i < 300; ++i) {
      const std::vector<float> row = random_row(rng, 1000);
      const SampleResult a = whole.sample(row.data(), 1000, {}, {});
      const SampleResult b = top.sample_top(host_top(row, k));
      ASSERT_EQ(a.id, b.id) << "draw " << i;
      EXPECT_NEAR(a.logprob, b.logprob, 1e-5);
      ASSERT_EQ(a.top.size(), b.top.size());
      for (size_t j = 0; j < a.top.size(); ++j) {
        EXPECT_EQ(a.top[j].id, b.top[j].id);
        EXPECT_NEAR(a.top[j].logprob, b.top[j].logprob, 1e-5);
      }
    }
  }
}

TEST(StepLogits, NeedsTheWholeRowWhereTopTokensCannotStandForIt) {
  const auto need = [](SamplingParams p, bool constrained = false) {
    GenerateOptions o;
    o.sampling = p;
    if (constrained) o.constraint = [] { return std::make_unique<AnyToken>(); };
    return OutputProcessor(o, nullptr, 100).need(16);
  };
  SamplingParams greedy;
  greedy.temperature = 0;
  EXPECT_EQ(need(greedy).k, 1);
  EXPECT_EQ(need(greedy).min_finite, 1);
  EXPECT_EQ(need(sampled(1)).k, 12);
  EXPECT_EQ(need(sampled(1)).min_finite, 13);  // top-k keeps 12 only when more are finite
  SamplingParams p = sampled(1);
  p.top_k = 0;  // every token may be drawn
  EXPECT_EQ(need(p).k, 0);
  p = sampled(1);
  p.top_k = 17;  // over what the backend offers
  EXPECT_EQ(need(p).k, 0);
  p = greedy;
  p.repeat_penalty = 1.1f;  // changes the row
  EXPECT_EQ(need(p).k, 0);
  p = greedy;
  p.presence_penalty = 0.5f;
  EXPECT_EQ(need(p).k, 0);
  EXPECT_EQ(need(greedy, true).k, 0);  // a constraint masks the row
  GenerateOptions o;
  o.sampling = greedy;
  EXPECT_EQ(OutputProcessor(o, nullptr, 100).need(0).k, 0);  // a host backend offers nothing
}

TEST(StepLogits, FetchesWholeRowsOnlyWhereNeeded) {
  TopBackend be;
  std::mt19937 rng(9);
  const int32_t n_vocab = 300;
  std::vector<float> host;
  for (int r = 0; r < 5; ++r) {
    const std::vector<float> row = random_row(rng, n_vocab);
    host.insert(host.end(), row.begin(), row.end());
  }
  host[2 * n_vocab + 17] = std::numeric_limits<float>::quiet_NaN();               // row 2: broken
  std::fill(host.begin() + 3 * n_vocab + 10, host.begin() + 4 * n_vocab, -kInf);  // row 3: 10 finite
  be.reset_scratch();
  Tensor dev = be.alloc(5, n_vocab);
  be.from_host(host.data(), dev);
  const std::vector<RowNeed> needs = {{1, 1}, {0, 0}, {1, 1}, {12, 13}, {12, 13}};
  StepLogits got;
  got.fetch(be, dev, needs);
  EXPECT_EQ(be.top_calls, 1);
  ASSERT_EQ(got.n_rows(), 5);
  EXPECT_NE(got.row(0).top, nullptr);
  EXPECT_EQ(got.row(1).top, nullptr);  // asked for the whole row
  EXPECT_EQ(got.row(2).top, nullptr);  // NaN: the host sampler reports it
  EXPECT_EQ(got.row(3).top, nullptr);  // too few finite logits for top-k 12
  EXPECT_NE(got.row(4).top, nullptr);
  for (int r : {1, 2, 3}) {
    ASSERT_EQ(got.row(r).full.size(), static_cast<size_t>(n_vocab));
    EXPECT_TRUE(std::equal(got.row(r).full.begin(), got.row(r).full.end(), host.begin() + r * n_vocab,
                           [](float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }))
        << r;
  }
  EXPECT_EQ(got.row(0).top->ids[0], host_top(std::span(host).subspan(0, n_vocab), 1).ids[0]);
  EXPECT_THROW(got.row(5), Error);
}

// Many sequences through the engine, greedy and sampled: the same tokens and log-probabilities
// whether the rows come whole (reference backend) or as top tokens (TopBackend).
TEST(StepLogits, EngineGivesTheSameTokensEitherWay) {
  const test::TinyModel m = test::make_tiny_model("step_logits.gguf");
  auto run = [&](std::unique_ptr<Backend> be, int* top_calls) {
    Backend* raw = be.get();
    Engine engine(*m.model, std::move(be), m.tokenizer.get(), EngineConfig{128});
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (int i = 0; i < 6; ++i) {
      GenerateOptions o = test::greedy(10, true);
      if (i % 2) o.sampling = sampled(100 + static_cast<uint64_t>(i));
      o.sampling.n_logprobs = 2;
      hs.push_back(engine.submit({{1, 2 + i, 3, 4}, o, true}));
    }
    auto out = test::token_samples(hs);
    engine.shutdown();
    if (top_calls) *top_calls = static_cast<TopBackend*>(raw)->top_calls;
    return out;
  };
  int top_calls = 0;
  const auto whole = run(make_reference_backend(), nullptr);
  const auto top = run(std::make_unique<TopBackend>(), &top_calls);
  EXPECT_GT(top_calls, 0);
  ASSERT_EQ(whole.size(), top.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    ASSERT_EQ(whole[i].size(), 10u) << i;
    ASSERT_EQ(top[i].size(), 10u) << i;
    for (size_t j = 0; j < whole[i].size(); ++j) {
      EXPECT_EQ(whole[i][j].id, top[i][j].id) << "sequence " << i << " token " << j;
      EXPECT_NEAR(whole[i][j].logprob, top[i][j].logprob, 1e-5);
      ASSERT_EQ(whole[i][j].top.size(), top[i][j].top.size());
    }
  }
}

}  // namespace
}  // namespace hayate
