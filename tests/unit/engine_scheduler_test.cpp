// The scheduler alone: with fake logits for the batching rules, and with a tiny synthetic model
// for preemption (whose recomputed sequences must give the same tokens as undisturbed runs).
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>

#include "core/error.h"
#include "engine/scheduler.h"
#include "engine/session.h"
#include "forward/forward.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

constexpr int32_t kVocab = 8;

GenerateOptions greedy(int32_t max_tokens) { return test::greedy(max_tokens, true); }

std::vector<int32_t> prompt_of(int n, int32_t salt) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 5 + salt) % kVocab);
  return t;
}

struct Rig {
  BlockManager blocks;
  PrefixCache cache;
  Scheduler sched;
  Rig(int32_t n_blocks, int32_t block_size, SchedulerConfig cfg, bool prefix = true)
      : blocks(n_blocks), cache(blocks, block_size, prefix), sched(blocks, cache, block_size, cfg, nullptr) {}

  // One step with all-zero logits (greedy picks id 0).
  std::vector<StepOutput> step(Step& s) {
    std::vector<float> logits(static_cast<size_t>(s.n_logit_rows) * kVocab, 0.0f);
    return sched.on_logits(s, logits, kVocab);
  }
  bool no_leaks() const { return blocks.n_free() == blocks.n_blocks() - cache.size(); }
};

// The sequence ids of a step's chunks, in batch order, with their token counts.
std::vector<std::pair<int64_t, int32_t>> chunks_of(const Step& s) {
  std::vector<std::pair<int64_t, int32_t>> v;
  for (const auto& c : s.chunks) v.emplace_back(c.seq->id, c.n_tokens);
  return v;
}

TEST(Scheduler, ChunkedPrefillSplitsALongPromptAndWantsLogitsOnlyAtItsEnd) {
  Rig r(64, 4, {8, 16, 128});
  r.sched.add(1, prompt_of(20, 1), greedy(2));
  std::vector<int32_t> sizes;
  for (int i = 0; i < 3; ++i) {
    Step s = r.sched.schedule();
    ASSERT_EQ(s.chunks.size(), 1u);
    sizes.push_back(s.chunks[0].n_tokens);
    for (size_t t = 0; t < s.batch.size(); ++t) {
      EXPECT_EQ(s.batch.positions[t], i * 8 + static_cast<int32_t>(t));
      EXPECT_EQ(s.batch.logits[t], i == 2 && t + 1 == s.batch.size()) << "step " << i << " token " << t;
    }
    const auto outs = r.step(s);
    EXPECT_EQ(outs.size(), i == 2 ? 1u : 0u);
  }
  EXPECT_EQ(sizes, (std::vector<int32_t>{8, 8, 4}));
  EXPECT_EQ(r.sched.find(1)->n_computed, 20);
}

TEST(Scheduler, DecodesComeFirstAndTheBudgetIsNeverExceeded) {
  Rig r(64, 4, {8, 16, 128});
  r.sched.add(1, prompt_of(3, 1), greedy(10));
  r.sched.add(2, prompt_of(3, 2), greedy(10));
  Step s1 = r.sched.schedule();
  EXPECT_EQ(chunks_of(s1), (std::vector<std::pair<int64_t, int32_t>>{{1, 3}, {2, 3}}));
  r.step(s1);
  r.sched.add(3, prompt_of(30, 3), greedy(10));
  Step s2 = r.sched.schedule();
  // Two decode tokens first, then the new prompt fills the rest of the budget.
  EXPECT_EQ(chunks_of(s2), (std::vector<std::pair<int64_t, int32_t>>{{1, 1}, {2, 1}, {3, 6}}));
  EXPECT_EQ(s2.n_decode, 2);
  EXPECT_EQ(s2.batch.n_outputs(), 2);
  r.step(s2);
  while (!r.sched.idle()) {
    Step s = r.sched.schedule();
    ASSERT_FALSE(s.chunks.empty());
    EXPECT_LE(static_cast<int32_t>(s.batch.size()), 8);
    r.step(s);
  }
  EXPECT_TRUE(r.no_leaks());
}

TEST(Scheduler, AdmitsInArrivalOrderUpToMaxRunning) {
  Rig r(64, 4, {64, 2, 128});
  r.sched.add(1, prompt_of(5, 1), greedy(1));
  r.sched.add(2, prompt_of(5, 2), greedy(3));
  r.sched.add(3, prompt_of(5, 3), greedy(3));
  Step s1 = r.sched.schedule();
  EXPECT_EQ(chunks_of(s1), (std::vector<std::pair<int64_t, int32_t>>{{1, 5}, {2, 5}}));
  EXPECT_EQ(r.sched.n_waiting(), 1);
  const auto outs = r.step(s1);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TRUE(outs[0].finished);  // max_tokens 1
  EXPECT_EQ(outs[0].finish_reason, FinishReason::Length);
  EXPECT_EQ(outs[0].usage.prompt_tokens, 5);
  EXPECT_EQ(outs[0].usage.completion_tokens, 1);
  Step s2 = r.sched.schedule();
  EXPECT_EQ(chunks_of(s2), (std::vector<std::pair<int64_t, int32_t>>{{2, 1}, {3, 5}}));
}

TEST(Scheduler, FirstWaitingSequenceThatDoesNotFitBlocksTheOnesBehindIt) {
  Rig r(6, 4, {64, 8, 24});
  r.sched.add(1, prompt_of(12, 1), greedy(8));  // 3 blocks now, up to 5 later
  r.sched.add(2, prompt_of(16, 2), greedy(1));  // 4 blocks: does not fit beside 1
  r.sched.add(3, prompt_of(2, 3), greedy(1));   // would fit, but must not overtake 2
  Step s = r.sched.schedule();
  EXPECT_EQ(chunks_of(s), (std::vector<std::pair<int64_t, int32_t>>{{1, 12}}));
  EXPECT_EQ(r.sched.n_waiting(), 2);
  r.step(s);
  std::vector<int64_t> admitted_order;
  while (!r.sched.idle()) {
    Step t = r.sched.schedule();
    for (const auto& c : t.chunks)
      if (c.seq->n_computed == 0) admitted_order.push_back(c.seq->id);
    r.step(t);
  }
  EXPECT_EQ(admitted_order, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(r.no_leaks());
}

TEST(Scheduler, RejectsBadRequestsAndAbortFreesBlocks) {
  Rig r(16, 4, {64, 8, 16});
  EXPECT_THROW(r.sched.add(1, {}, greedy(1)), Error);
  EXPECT_THROW(r.sched.add(1, prompt_of(17, 1), greedy(1)), Error);
  EXPECT_THROW(r.sched.add(1, prompt_of(3, 1), greedy(0)), Error);
  r.sched.add(1, prompt_of(10, 1), greedy(5));
  Step s = r.sched.schedule();
  r.step(s);
  EXPECT_LT(r.blocks.n_free(), 16);
  const auto out = r.sched.abort(1, FinishReason::Cancelled);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(out->usage.completion_tokens, 1);
  EXPECT_FALSE(r.sched.abort(1, FinishReason::Cancelled).has_value());
  EXPECT_TRUE(r.sched.idle());
  EXPECT_TRUE(r.no_leaks());
  EXPECT_EQ(r.cache.size(), 2);  // its two full prompt blocks stay cached
}

TEST(Scheduler, StopsAtTheContextLength) {
  Rig r(16, 4, {64, 8, 12});
  r.sched.add(1, prompt_of(10, 1), greedy(100));
  std::vector<StepOutput> last;
  while (!r.sched.idle()) {
    Step s = r.sched.schedule();
    last = r.step(s);
  }
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].finish_reason, FinishReason::Length);
  EXPECT_EQ(last[0].usage.completion_tokens, 3);  // as Session: ids fed at positions 10 and 11, then stop
}

// Random prompts, lengths and cancellations against a small cache: every step makes progress
// within the budget, every request ends, and no block leaks.
TEST(Scheduler, RandomLoadAlwaysProgressesAndLeaksNothing) {
  for (const bool prefix : {true, false}) {
    std::mt19937 rng(prefix ? 1 : 2);
    const int32_t n_ctx = 40;
    Rig r(10, 4, {12, 5, n_ctx}, prefix);  // 40 positions: one full context
    std::map<int64_t, int32_t> wanted, got;
    int64_t next_id = 0;
    int steps = 0;
    for (int round = 0; round < 300 || !r.sched.idle(); ++round) {
      ASSERT_LT(++steps, 5000);
      if (round < 300 && rng() % 3 == 0) {
        const int32_t len = 1 + static_cast<int32_t>(rng() % 30);
        const int32_t max_tokens = 1 + static_cast<int32_t>(rng() % (n_ctx - len + 1));
        std::vector<int32_t> p = prompt_of(len, static_cast<int32_t>(rng() % 3));  // shared prefixes
        r.sched.add(next_id, p, greedy(max_tokens));
        wanted[next_id++] = max_tokens;
      }
      if (round < 300 && rng() % 17 == 0 && next_id > 0) {
        const int64_t victim = static_cast<int64_t>(rng() % static_cast<uint32_t>(next_id));
        if (r.sched.abort(victim, FinishReason::Cancelled)) wanted.erase(victim);
      }
      if (r.sched.idle()) continue;
      Step s = r.sched.schedule();
      ASSERT_FALSE(s.chunks.empty());
      ASSERT_LE(static_cast<int32_t>(s.batch.size()), 12);
      for (const StepOutput& out : r.step(s)) {
        ASSERT_TRUE(!out.finished || out.finish_reason == FinishReason::Length) << to_string(out.finish_reason);
        if (out.finished) got[out.seq_id] = out.usage.completion_tokens;
      }
    }
    for (const auto& [id, n] : wanted) EXPECT_EQ(got[id], n) << "request " << id;
    EXPECT_TRUE(r.no_leaks());
    EXPECT_GT(r.sched.n_preemptions(), 0);
  }
}

// ---- with a model ----

const Model& tiny_model() {
  static std::unique_ptr<Model> m = test::make_tiny_model("sched-tiny.gguf", 128, 2, 256, 256, "f32").model;
  return *m;
}

std::vector<int32_t> model_prompt(int n, int32_t salt) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + salt * 11) % 256);
  return t;
}

class SchedulerPreemption : public ::testing::TestWithParam<bool> {};

TEST_P(SchedulerPreemption, RecomputedSequencesGiveTheSameTokensAsRunsAlone) {
  const Model& m = tiny_model();
  auto backend = make_backend("cpu", 2);
  const int32_t bs = 4, n_ctx = 48, n_blocks = 12;
  const std::vector<std::vector<int32_t>> prompts = {model_prompt(9, 1), model_prompt(7, 2), model_prompt(11, 3)};
  const GenerateOptions opt = greedy(16);  // each needs 6 or 7 blocks, 20 in all: more than 12

  std::map<int64_t, std::vector<int32_t>> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Session session(m, *backend, n_ctx, bs);
    alone[static_cast<int64_t>(i)] = session.generate(prompts[i], opt, nullptr).tokens;
  }

  auto kv = backend->make_kv_cache(m.hp, n_blocks, bs);
  Rig r(n_blocks, bs, {16, 16, n_ctx}, GetParam());
  for (size_t i = 0; i < prompts.size(); ++i) r.sched.add(static_cast<int64_t>(i), prompts[i], opt);
  std::map<int64_t, std::vector<int32_t>> together;
  int steps = 0;
  while (!r.sched.idle()) {
    ASSERT_LT(++steps, 1000);
    Step s = r.sched.schedule();
    ASSERT_FALSE(s.chunks.empty());
    ASSERT_LE(static_cast<int32_t>(s.batch.size()), 16);
    const auto logits = forward(m, s.batch, *kv, *backend);
    for (const StepOutput& out : r.sched.on_logits(s, logits, m.hp.n_vocab))
      if (out.has_token) together[out.seq_id].push_back(out.token);
  }
  EXPECT_GT(r.sched.n_preemptions(), 0);
  EXPECT_EQ(together, alone);
  EXPECT_EQ(together[0].size(), 16u);
  EXPECT_TRUE(r.no_leaks()) << r.blocks.n_free() << " free, " << r.cache.size() << " cached";
}

// The last prompt token must be computed for its logits, and a cached block must never be
// written again. So a prompt that is cached whole reuses all its blocks but the last, which it
// recomputes; a prompt one token longer than its cached blocks reuses them all.
TEST(Scheduler, FullyCachedPromptRecomputesTheBlockOfItsLastToken) {
  const Model& m = tiny_model();
  auto backend = make_backend("cpu", 2);
  const int32_t bs = 4;
  auto kv = backend->make_kv_cache(m.hp, 32, bs);
  Rig r(32, bs, {64, 4, 64});
  const GenerateOptions opt = greedy(6);
  auto run = [&](int64_t id, const std::vector<int32_t>& prompt, int32_t* first_batch) {
    r.sched.add(id, prompt, opt);
    std::vector<int32_t> tokens;
    StepOutput done;
    for (bool first = true; !r.sched.idle(); first = false) {
      Step s = r.sched.schedule();
      if (first) *first_batch = static_cast<int32_t>(s.batch.size());
      for (StepOutput& out : r.sched.on_logits(s, forward(m, s.batch, *kv, *backend), m.hp.n_vocab)) {
        if (out.has_token) tokens.push_back(out.token);
        if (out.finished) done = out;
      }
    }
    EXPECT_EQ(done.finish_reason, FinishReason::Length);
    return std::make_pair(tokens, done.usage.cached_tokens);
  };
  const auto prompt = model_prompt(8, 5);  // exactly two blocks
  int32_t batch = 0;
  const auto [cold, cold_cached] = run(1, prompt, &batch);
  EXPECT_EQ(cold_cached, 0);
  EXPECT_EQ(batch, 8);
  const auto [warm, warm_cached] = run(2, prompt, &batch);
  EXPECT_EQ(warm_cached, 4);  // block 0 reused, block 1 (holding the last token) recomputed
  EXPECT_EQ(batch, 4);
  EXPECT_EQ(warm, cold);

  auto longer = prompt;
  longer.push_back(cold[0]);  // the first generated id: the same sequence one step on
  const auto [cont, cont_cached] = run(3, longer, &batch);
  EXPECT_EQ(cont_cached, 8);
  EXPECT_EQ(batch, 1);
  EXPECT_EQ(std::vector<int32_t>(cold.begin() + 1, cold.end()), std::vector<int32_t>(cont.begin(), cont.end() - 1));
  EXPECT_TRUE(r.no_leaks());
}

INSTANTIATE_TEST_SUITE_P(PrefixCaching, SchedulerPreemption, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

}  // namespace
}  // namespace hayate
