// The split vocabulary head's gathered top-k: each rank's top k of its slice of the logits,
// merged on rank 0, are the TopLogits of the whole rows (values, ids and the order of equal
// logits, a tie across a rank boundary included), for TP=1, 2 and 4 over CPU ranks that offer
// top_logits (computed on the host by sorting, as a device backend would on the device); the
// rows are not gathered for it, and are gathered, unchanged, when a caller reads them whole.
// merge_top_logits is also checked on its own: empty slices, k larger than a slice, ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "backend/comm.h"
#include "engine/engine.h"
#include "engine/step_logits.h"
#include "forward/forward.h"
#include "forward/tensor_parallel.h"
#include "model/synth.h"
#include "support/engine_support.h"
#include "support/test_util.h"
#include "support/top_logits_ref.h"
#include "support/wrapped_backend.h"

namespace hayate {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
using test::host_top;

// A CPU rank that offers top_logits, counting what it is asked.
class TopCpu : public test::WrappedBackend {
 public:
  TopCpu() : WrappedBackend(make_backend("cpu", 1)) {}
  int32_t max_top_logits() const override { return 32; }
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override {
    ++top_calls;
    out.clear();
    for (int32_t r : rows) out.push_back(host_top(logits.data + r * logits.cols, logits.cols, k));
  }
  int top_calls = 0;
};

void expect_same(const TopLogits& got, const TopLogits& want, const std::string& what) {
  EXPECT_EQ(got.ids, want.ids) << what;
  EXPECT_EQ(got.logits, want.logits) << what;  // the same floats, not close ones
  EXPECT_EQ(got.n_finite, want.n_finite) << what;
  EXPECT_EQ(got.ok, want.ok) << what;
  if (want.ok) {
    EXPECT_NEAR(got.log_norm, want.log_norm, 1e-9 * std::max(1.0, std::abs(want.log_norm))) << what;
  }
}

TopLogits slice_top(std::vector<float> row, int32_t k) { return host_top(row.data(), int64_t(row.size()), k); }

TEST(TensorParallelTop, MergeOfSlicesIsTheWholeRowsTop) {
  // Equal logits in every slice and across the boundaries; a slice of only -inf; k larger than
  // the slices.
  const std::vector<float> row = {1, 5, 3, 5, /**/ 5, 2, /**/ -kInf, -kInf, /**/ 3, 0, 5};
  const std::vector<int64_t> offsets = {0, 4, 6, 8, 11};
  for (int32_t k : {1, 2, 3, 5, 8, 20}) {
    std::vector<TopLogits> parts;
    for (size_t r = 0; r + 1 < offsets.size(); ++r)
      parts.push_back(slice_top(std::vector<float>(row.begin() + offsets[r], row.begin() + offsets[r + 1]), k));
    EXPECT_FALSE(parts[2].ok);  // only -inf: the slice alone cannot be sampled, the row can
    expect_same(merge_top_logits(parts, offsets, k), slice_top(row, k), "k=" + std::to_string(k));
  }
  const TopLogits top3 = merge_top_logits(std::vector<TopLogits>{slice_top({1, 5, 3, 5}, 3), slice_top({5, 2}, 3),
                                                                 slice_top({-kInf, -kInf}, 3), slice_top({3, 0, 5}, 3)},
                                          offsets, 3);
  EXPECT_EQ(top3.ids, (std::vector<int32_t>{1, 3, 4}));  // the fives, lower ids first
}

TEST(TensorParallelTop, MergeSaysWhenTheRowCannotBeSampledFromItsTop) {
  const std::vector<int64_t> offsets = {0, 2, 4};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // NaN in one slice: the row is not ok, although the other slice is.
  EXPECT_FALSE(merge_top_logits(std::vector<TopLogits>{slice_top({1, 2}, 2), slice_top({nan, 0}, 2)}, offsets, 2).ok);
  // Only -inf everywhere.
  const TopLogits none =
      merge_top_logits(std::vector<TopLogits>{slice_top({-kInf, -kInf}, 2), slice_top({-kInf, -kInf}, 2)}, offsets, 2);
  EXPECT_FALSE(none.ok);
  EXPECT_EQ(none.n_finite, 0);
  // Empty slices (more ranks than tokens) list nothing and count nothing.
  const std::vector<int64_t> uneven = {0, 0, 3};
  expect_same(merge_top_logits(std::vector<TopLogits>{slice_top({}, 2), slice_top({4, 4, 1}, 2)}, uneven, 2),
              slice_top({4, 4, 1}, 2), "empty slice");
  EXPECT_THROW(merge_top_logits(std::vector<TopLogits>{slice_top({1}, 1)}, offsets, 1), Error);
}

// The logits of a six-token prompt, every row.
Tensor prompt_logits(const Model& m, Backend& be, KvCache& kv) {
  Batch b;
  b.sequences = {BatchSequence{{0}}};
  for (int32_t p = 0; p < 6; ++p) b.add((p * 41 + 3) % m.hp.n_vocab, p, 0, true);
  return forward_logits(m, b, kv, be);
}

// The prompt's logits of one unsplit CPU backend, every row, on the host.
std::vector<float> one_backend_logits(const Model& m) {
  auto be = make_backend("cpu", 1);
  be->prepare(m);
  auto kv = be->make_kv_cache(m.hp, 4, 16);
  const Tensor logits = prompt_logits(m, *be, *kv);
  std::vector<float> host(static_cast<size_t>(logits.rows * logits.cols));
  be->to_host(logits, host.data());
  return host;
}

// A qwen2-shaped f32 model whose head repeats one row, scaled up, on both sides of every rank
// boundary of TP=2 and TP=4: those tokens' logits are equal (the same dot product), and the row
// is that of prompt row 3's most likely token, so that they lead that row's list and the merge
// must order a tie that spans two ranks.
struct TiedHeadModel {
  std::unique_ptr<Model> model;
  std::vector<float> head;
  std::vector<int32_t> tied;  // the tokens sharing the row
};

TiedHeadModel make_tied_model() {
  SynthOptions o;
  o.arch = "qwen2";
  o.n_embd = 128;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 4;
  o.n_ff = 256;
  o.n_ctx = 256;
  o.file_type = "f32";
  const std::string path = test::temp_path("tp-top-qwen2.gguf");
  std::ostringstream log;
  synth_model(o, path, log);
  TiedHeadModel t;
  t.model = Model::load(path);
  Model& m = *t.model;
  const int64_t v = m.hp.n_vocab, d = m.hp.n_embd;
  EXPECT_EQ(m.output.type, GgmlType::F32);
  t.head.resize(static_cast<size_t>(v * d));
  std::memcpy(t.head.data(), m.output.data, t.head.size() * sizeof(float));
  for (int32_t n : {2, 4})
    for (int32_t r = 1; r < n; ++r)
      for (int64_t id : {vocab_offset(v, n, r) - 1, vocab_offset(v, n, r)}) t.tied.push_back(static_cast<int32_t>(id));
  std::sort(t.tied.begin(), t.tied.end());
  t.tied.erase(std::unique(t.tied.begin(), t.tied.end()), t.tied.end());
  const std::vector<float> host = one_backend_logits(m);
  const float* row3 = host.data() + 3 * v;
  const int64_t best = std::max_element(row3, row3 + v) - row3;
  EXPECT_GT(row3[best], 0.0f);  // scaled up, the copies lead
  for (int32_t id : t.tied)
    for (int64_t c = 0; c < d; ++c)
      t.head[static_cast<size_t>(id * d + c)] = 4.0f * t.head[static_cast<size_t>(best * d + c)];
  m.output.data = t.head.data();
  return t;
}

struct Group {
  std::unique_ptr<TensorParallelBackend> tp;
  std::vector<TopCpu*> ranks;
};

Group top_group(const Model& m, int n) {
  Group g;
  std::vector<std::unique_ptr<Backend>> ranks;
  for (int r = 0; r < n; ++r) {
    auto be = std::make_unique<TopCpu>();
    g.ranks.push_back(be.get());
    ranks.push_back(std::move(be));
  }
  g.tp = std::make_unique<TensorParallelBackend>(std::move(ranks), make_in_process_communicators(n));
  g.tp->prepare(m);
  return g;
}

TEST(TensorParallelTop, RanksTopKMergedIsTheGatheredRowsTop) {
  const TiedHeadModel t = make_tied_model();
  const Model& m = *t.model;
  const int32_t k = 16;
  const std::vector<int32_t> rows = {0, 2, 3, 5};
  const std::vector<float> want_rows = one_backend_logits(m);
  bool tie_listed = false;
  for (int n : {1, 2, 4}) {
    const std::string what = "TP=" + std::to_string(n);
    Group g = top_group(m, n);
    EXPECT_EQ(g.tp->max_top_logits(), 32) << what;
    auto kv = g.tp->make_kv_cache(m.hp, 4, 16);
    const Tensor logits = prompt_logits(m, *g.tp, *kv);
    std::vector<TopLogits> got;
    g.tp->top_logits(logits, rows, k, got);
    for (TopCpu* r : g.ranks) EXPECT_EQ(r->top_calls, 1) << what << ": every rank lists its slice's top";
    // Then the whole rows, gathered now: their top is what the ranks' merged tops said.
    std::vector<float> whole(static_cast<size_t>(logits.rows * logits.cols));
    g.tp->to_host(logits, whole.data());
    ASSERT_EQ(got.size(), rows.size()) << what;
    for (size_t j = 0; j < rows.size(); ++j) {
      const float* row = whole.data() + rows[j] * logits.cols;
      const TopLogits want = host_top(row, logits.cols, k);
      expect_same(got[j], want, what + " row " + std::to_string(rows[j]));
      // The same tokens as one backend, the logits within the CPU tolerance.
      const TopLogits one_top = host_top(want_rows.data() + rows[j] * logits.cols, logits.cols, k);
      EXPECT_EQ(got[j].ids, one_top.ids) << what << " row " << rows[j];
      EXPECT_LT(
          test::max_relative_error(row, want_rows.data() + rows[j] * logits.cols, static_cast<size_t>(logits.cols)),
          1e-4)
          << what;
      // The tied tokens sit side by side, lower id first.
      for (size_t i = 0; i + 1 < got[j].ids.size(); ++i)
        if (std::binary_search(t.tied.begin(), t.tied.end(), got[j].ids[i]) &&
            std::binary_search(t.tied.begin(), t.tied.end(), got[j].ids[i + 1])) {
          EXPECT_EQ(got[j].logits[i], got[j].logits[i + 1]) << what;
          EXPECT_LT(got[j].ids[i], got[j].ids[i + 1]) << what;
          tie_listed = true;
        }
    }
  }
  EXPECT_TRUE(tie_listed) << "no row listed the tokens that share a head row; the tie went untested";
}

TEST(TensorParallelTop, WholeRowsAreGatheredWhenReadWhole) {
  const TiedHeadModel t = make_tied_model();
  const Model& m = *t.model;
  const std::vector<float> want = one_backend_logits(m);
  const auto v = static_cast<size_t>(m.hp.n_vocab);
  for (int n : {2, 4}) {
    const std::string what = "TP=" + std::to_string(n);
    Group g = top_group(m, n);
    auto kv = g.tp->make_kv_cache(m.hp, 4, 16);
    const Tensor logits = prompt_logits(m, *g.tp, *kv);
    // Rows 4 and 1 picked whole (what the engine does for rows that need the vocabulary).
    const std::vector<int32_t> picked_rows = {4, 1};
    Tensor picked = g.tp->alloc(2, logits.cols);
    g.tp->copy_rows(logits, picked_rows, picked);
    std::vector<float> got(2 * v);
    g.tp->to_host(picked, got.data());
    for (size_t j = 0; j < 2; ++j)
      EXPECT_LT(test::max_relative_error(got.data() + j * v, want.data() + static_cast<size_t>(picked_rows[j]) * v, v),
                1e-4)
          << what << " row " << picked_rows[j];
    for (TopCpu* r : g.ranks) EXPECT_EQ(r->top_calls, 0) << what;
    // After a gather, top_logits reads rank 0's gathered rows (no rank lists its slice).
    std::vector<TopLogits> tops;
    g.tp->top_logits(logits, std::vector<int32_t>{4}, 8, tops);
    EXPECT_EQ(g.ranks[0]->top_calls, 1) << what;
    for (size_t r = 1; r < g.ranks.size(); ++r) EXPECT_EQ(g.ranks[r]->top_calls, 0) << what;
    ASSERT_EQ(tops.size(), 1u);
    EXPECT_EQ(tops[0].ids, host_top(want.data() + 4 * v, m.hp.n_vocab, 8).ids) << what;
  }
}

// A NaN in one rank's slice: the merged top says the row cannot be sampled from it, and the
// engine's step logits fetch that row whole, gathered, NaN included; the other rows as tops.
TEST(TensorParallelTop, ARowWithNaNInOneSliceIsFetchedWhole) {
  TiedHeadModel t = make_tied_model();
  Model& m = *t.model;
  const int64_t v = m.hp.n_vocab, d = m.hp.n_embd;
  const int64_t bad = vocab_offset(v, 2, 1) + 3;  // rank 1's of TP=2
  for (int64_t c = 0; c < d; ++c) t.head[static_cast<size_t>(bad * d + c)] = std::numeric_limits<float>::quiet_NaN();
  Group g = top_group(m, 2);
  auto kv = g.tp->make_kv_cache(m.hp, 4, 16);
  const Tensor logits = prompt_logits(m, *g.tp, *kv);
  std::vector<RowNeed> needs(static_cast<size_t>(logits.rows));
  needs[1] = RowNeed{8, 1};
  needs[4] = RowNeed{8, 1};
  StepLogits step;
  step.fetch(*g.tp, logits, needs);
  for (TopCpu* r : g.ranks) EXPECT_EQ(r->top_calls, 1);
  for (int32_t i = 0; i < logits.rows; ++i) {
    const LogitsRow row = step.row(i);
    EXPECT_EQ(row.top, nullptr) << "row " << i << ": NaN in every row, none may be sampled from its top";
    ASSERT_EQ(row.full.size(), static_cast<size_t>(v)) << "row " << i;
    EXPECT_TRUE(std::isnan(row.full[static_cast<size_t>(bad)])) << "row " << i;
    EXPECT_FALSE(std::isnan(row.full[static_cast<size_t>(bad - 1)])) << "row " << i;
  }
}

// Host ranks (plain CPU backends) offer no top_logits: the group offers none either, so the
// engine reads whole rows.
TEST(TensorParallelTop, HostRanksOfferNoTopLogits) {
  std::vector<std::unique_ptr<Backend>> ranks;
  ranks.push_back(make_backend("cpu", 1));
  ranks.push_back(std::make_unique<TopCpu>());
  TensorParallelBackend tp(std::move(ranks), make_in_process_communicators(2));
  EXPECT_EQ(tp.max_top_logits(), 0);
}

// The engine over TP=2 and TP=4 groups of such ranks: greedy and seeded sampled requests (their
// rows as merged tops) and requests that draw from the whole vocabulary (top_k 0: whole rows,
// gathered) give the tokens of one unsplit CPU backend, which reads whole rows.
TEST(TensorParallelTop, EngineGivesTheTokensOfOneBackend) {
  SynthOptions o;
  o.n_embd = 128;
  o.n_layer = 2;
  o.n_head = 8;
  o.n_head_kv = 4;
  o.n_ff = 256;
  o.n_ctx = 256;
  o.file_type = "f16";
  const std::string path = test::temp_path("tp-top-engine.gguf");
  std::ostringstream log;
  synth_model(o, path, log);
  const auto model = Model::load(path);
  const auto tokenizer = Tokenizer::from_gguf(*model->file);
  auto serve = [&](std::unique_ptr<Backend> be, const std::vector<TopCpu*>& ranks, int* top_calls) {
    Engine engine(*model, std::move(be), tokenizer.get(), EngineConfig{128});
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (int i = 0; i < 6; ++i) {
      GenerateOptions g = test::greedy(10, true);
      if (i % 2) {
        g.sampling.temperature = 0.8f;
        g.sampling.top_k = i == 5 ? 0 : 12;  // 0: every token may be drawn, so the row is read whole
        g.sampling.top_p = 0.9f;
        g.sampling.seed = 100 + static_cast<uint64_t>(i);
      }
      g.sampling.n_logprobs = 2;
      hs.push_back(engine.submit({{1, 2 + i, 3, 4}, g, true}));
    }
    auto out = test::token_samples(hs);
    engine.shutdown();
    for (TopCpu* r : ranks) *top_calls += r->top_calls;  // the engine (and the ranks) still live
    return out;
  };
  int none = 0;
  auto one = make_backend("cpu", 1);
  one->prepare(*model);
  const auto want = serve(std::move(one), {}, &none);
  for (int n : {2, 4}) {
    const std::string what = "TP=" + std::to_string(n);
    Group g = top_group(*model, n);
    int top_calls = 0;
    const auto got = serve(std::move(g.tp), g.ranks, &top_calls);
    EXPECT_GT(top_calls, 0) << what << ": no step took the ranks' tops";
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(want[i].size(), 10u) << what << " request " << i;
      ASSERT_EQ(got[i].size(), 10u) << what << " request " << i;
      for (size_t j = 0; j < want[i].size(); ++j) {
        EXPECT_EQ(got[i][j].id, want[i][j].id) << what << " request " << i << " token " << j;
        EXPECT_NEAR(got[i][j].logprob, want[i][j].logprob, 1e-3) << what << " request " << i << " token " << j;
      }
    }
  }
}

}  // namespace
}  // namespace hayate
