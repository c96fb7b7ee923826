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

namespace hayate {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The TopLogits of one host row, by the contract of backend.h (sorted by logit, then id).
TopLogits host_top(std::span<const float> row, int32_t k) {
  TopLogits t;
  std::vector<int32_t> ids;
  double max = -kInf;
  for (size_t i = 0; i < row.size(); ++i) {
    if (std::isnan(row[i]) || row[i] == kInf) t.ok = false;
    if (row[i] != -kInf) {
      ids.push_back(static_cast<int32_t>(i));
      max = std::max(max, static_cast<double>(row[i]));
    }
  }
  t.n_finite = static_cast<int32_t>(ids.size());
  if (ids.empty()) t.ok = false;
  if (!t.ok) return t;
  const size_t n = std::min(ids.size(), static_cast<size_t>(k));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  double sum = 0;
  for (float l : row) sum += l == -kInf ? 0.0 : std::exp(l - max);
  t.log_norm = max + std::log(sum);
  for (size_t i = 0; i < n; ++i) {
    t.ids.push_back(ids[i]);
    t.logits.push_back(row[ids[i]]);
  }
  return t;
}

// The reference backend plus top_logits: what a device backend offers, on the host.
class TopBackend : public Backend {
 public:
  std::string name() const override { return "top"; }
  void prepare(const Model& m) override { inner_->prepare(m); }
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n, int32_t bs) override {
    return inner_->make_kv_cache(hp, n, bs);
  }
  Tensor alloc(int64_t rows, int64_t cols) override { return inner_->alloc(rows, cols); }
  void reset_scratch() override { inner_->reset_scratch(); }
  size_t scratch_mark() const override { return inner_->scratch_mark(); }
  void scratch_release(size_t mark) override { inner_->scratch_release(mark); }
  void to_host(Tensor x, float* dst) override {
    ++rows_to_host;
    inner_->to_host(x, dst);
  }
  void get_rows(const Weight& t, std::span<const int32_t> ids, Tensor out) override { inner_->get_rows(t, ids, out); }
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override { inner_->copy_rows(x, rows, out); }
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override { inner_->rms_norm(x, w, eps, out); }
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override { inner_->matmul(w, x, out, bias); }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> pos, const RopeParams& p) override {
    inner_->rope(x, n_heads, pos, p);
  }
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override {
    inner_->store_kv(kv, layer, k, v, batch);
  }
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    inner_->attention(kv, layer, q, batch, n_head, n_head_kv, head_dim, out);
  }
  void swiglu(Tensor gate, Tensor up, Tensor out) override { inner_->swiglu(gate, up, out); }
  void add(Tensor x, Tensor y) override { inner_->add(x, y); }
  int32_t max_top_logits() const override { return 16; }
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override {
    ++top_calls;
    out.clear();
    for (int32_t r : rows)
      out.push_back(
          host_top(std::span<const float>(logits.data + r * logits.cols, static_cast<size_t>(logits.cols)), k));
  }
  int top_calls = 0, rows_to_host = 0;

 private:
  std::unique_ptr<Backend> inner_ = make_reference_backend();
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
    std::vector<std::vector<SampleResult>> out;
    for (auto& h : hs) {
      out.emplace_back();
      while (auto e = h->next(std::chrono::seconds(60))) {
        if (e->kind != Event::Token) break;
        out.back().push_back(e->sample);
      }
    }
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
