// Embedding requests (mean-pooled, normalised final hidden states, delivered as events like a
// generation's) and RequestHandle::set_notify.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "core/error.h"
#include "engine/engine.h"
#include "forward/forward.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

std::unique_ptr<Model> tiny_model() { return test::make_tiny_model("embed.gguf").model; }

Request embed_request(std::vector<int32_t> tokens) {
  Request r;
  r.kind = RequestKind::Embed;
  r.prompt = std::move(tokens);
  return r;
}

Request greedy_request(std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.prompt = std::move(prompt);
  r.options.max_tokens = max_tokens;
  r.options.sampling.temperature = 0;
  return r;
}

// One Embedding event, then Done with the input's token count.
std::vector<float> embed(Engine& engine, std::vector<int32_t> tokens) {
  const auto n = static_cast<int32_t>(tokens.size());
  auto h = engine.submit(embed_request(std::move(tokens)));
  auto first = h->next(std::chrono::seconds(60));
  EXPECT_TRUE(first && first->kind == Event::Embedding);
  auto last = h->next(std::chrono::seconds(60));
  EXPECT_TRUE(last && last->kind == Event::Done);
  if (last) {
    EXPECT_EQ(last->finish_reason, FinishReason::Stop);
    EXPECT_EQ(last->usage.prompt_tokens, n);
  }
  EXPECT_FALSE(h->next(std::chrono::milliseconds(0))) << "nothing after Done";
  return first ? first->embedding : std::vector<float>{};
}

TEST(EngineEmbed, MeanOfFinalHiddenStatesNormalised) {
  auto m = tiny_model();
  Engine engine(*m, make_backend("cpu", 2), nullptr);
  const std::vector<int32_t> tokens{5, 17, 42, 99, 3, 200, 7};
  const std::vector<float> got = embed(engine, tokens);
  ASSERT_EQ(got.size(), static_cast<size_t>(m->hp.n_embd));

  // The same computation by hand on the reference backend.
  auto ref = make_backend("reference", 1);
  auto kv = ref->make_kv_cache(m->hp, 1, 16);
  Batch b;
  b.sequences.push_back({{0}});
  for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0, true);
  const auto hidden = forward_hidden(*m, b, *kv, *ref);
  std::vector<double> mean(got.size(), 0.0);
  for (size_t r = 0; r < tokens.size(); ++r)
    for (size_t d = 0; d < got.size(); ++d) mean[d] += hidden[r * got.size() + d];
  double norm = 0;
  for (double v : mean) norm += v * v;
  norm = std::sqrt(norm);
  double got_norm = 0;
  for (size_t d = 0; d < got.size(); ++d) {
    EXPECT_NEAR(got[d], mean[d] / norm, 1e-5) << d;
    got_norm += static_cast<double>(got[d]) * got[d];
  }
  EXPECT_NEAR(got_norm, 1.0, 1e-5);
  EXPECT_EQ(embed(engine, tokens), got) << "the same input gives the same embedding";
  EXPECT_NE(embed(engine, {5, 17, 42}), got);
}

// Many embeddings submitted together (packed into shared forward passes as they wait) give what
// each gives alone.
TEST(EngineEmbed, PackedEmbeddingsEqualEachAlone) {
  auto m = tiny_model();
  EngineConfig config;
  config.max_batch_tokens = 40;  // several passes, some prompts sharing one
  Engine engine(*m, make_backend("cpu", 2), nullptr, config);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 3 + (i * 5) % 23; ++j) p.push_back((i * 31 + j * 7) % 250 + 1);
    prompts.push_back(p);
  }
  std::vector<std::vector<float>> alone;
  for (const auto& p : prompts) alone.push_back(embed(engine, p));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (const auto& p : prompts) handles.push_back(engine.submit(embed_request(p)));
    for (size_t i = 0; i < handles.size(); ++i) {
      auto e = handles[i]->next(std::chrono::seconds(60));
      ASSERT_TRUE(e && e->kind == Event::Embedding) << i;
      ASSERT_EQ(e->embedding.size(), alone[i].size());
      for (size_t d = 0; d < alone[i].size(); ++d) EXPECT_NEAR(e->embedding[d], alone[i][d], 1e-4) << i << " " << d;
      auto done = handles[i]->next(std::chrono::seconds(60));
      ASSERT_TRUE(done && done->kind == Event::Done);
      EXPECT_EQ(done->usage.prompt_tokens, static_cast<int32_t>(prompts[i].size()));
    }
  }
}

// Embeddings that arrive together run as one batch of sequences (and one longer than a step
// alone, in chunks), each bit for bit what it is alone; a bad one is refused by itself.
TEST(EngineEmbed, SubmittedTogetherEqualAlone) {
  auto m = tiny_model();
  EngineConfig c;
  c.max_batch_tokens = 32;
  c.max_running = 3;
  Engine engine(*m, make_backend("cpu", 2), nullptr, c);
  std::vector<std::vector<int32_t>> inputs;
  for (int i = 0; i < 7; ++i) {
    std::vector<int32_t> t;
    for (int j = 0; j < 3 + i * 2; ++j) t.push_back((i * 31 + j * 7) % 250 + 1);
    inputs.push_back(t);
  }
  inputs.push_back(std::vector<int32_t>(45, 9));  // over one step of 32 tokens
  std::vector<std::vector<float>> alone;
  for (const auto& t : inputs) alone.push_back(embed(engine, t));
  std::vector<Request> requests;
  for (const auto& t : inputs) requests.push_back(embed_request(t));
  requests.push_back(embed_request({m->hp.n_vocab}));
  const std::vector<Engine::Submitted> subs = engine.submit_together(std::move(requests));
  ASSERT_EQ(subs.size(), inputs.size() + 1);
  EXPECT_TRUE(subs.back().error && !subs.back().handle);
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(subs[i].handle) << i;
    const auto first = subs[i].handle->next(std::chrono::seconds(60));
    ASSERT_TRUE(first && first->kind == Event::Embedding) << i;
    EXPECT_EQ(first->embedding, alone[i]) << "input " << i;
    const auto last = subs[i].handle->next(std::chrono::seconds(60));
    ASSERT_TRUE(last && last->kind == Event::Done) << i;
    EXPECT_EQ(last->usage.prompt_tokens, static_cast<int32_t>(inputs[i].size()));
  }
}

TEST(EngineEmbed, BadInputIsRejected) {
  auto m = tiny_model();
  Engine engine(*m, make_backend("cpu", 1), nullptr);
  EXPECT_THROW(engine.submit(embed_request({})), Error);
  EXPECT_THROW(engine.submit(embed_request({m->hp.n_vocab})), Error);
  EXPECT_THROW(engine.submit(embed_request(std::vector<int32_t>(10000, 1))), Error);
}

TEST(EngineEmbed, NotifyFiresForEveryEvent) {
  auto m = tiny_model();
  Engine engine(*m, make_backend("cpu", 1), nullptr);
  auto h = engine.submit(greedy_request({1, 2, 3}, 5));
  std::atomic<int> calls{0};
  h->set_notify([&] { ++calls; });
  int events = 0;
  while (auto e = h->next(std::chrono::milliseconds(5000))) {
    ++events;
    if (e->kind != Event::Token) break;
  }
  EXPECT_EQ(events, 6);  // 5 tokens and Done
  EXPECT_GE(calls.load(), 1);
}

// An embedding wakes its reader like a generation does, and shares the engine with generations.
TEST(EngineEmbed, NotifyFiresForTheEmbeddingBesideAGeneration) {
  auto m = tiny_model();
  Engine engine(*m, make_backend("cpu", 1), nullptr);
  auto g = engine.submit(greedy_request({1, 2, 3}, 20));
  auto h = engine.submit(embed_request({4, 5, 6}));
  std::atomic<int> calls{0};
  h->set_notify([&] { ++calls; });
  std::vector<Event::Kind> kinds;
  while (auto e = h->next(std::chrono::milliseconds(5000))) kinds.push_back(e->kind);
  EXPECT_EQ(kinds, (std::vector<Event::Kind>{Event::Embedding, Event::Done}));
  EXPECT_GE(calls.load(), 1);
  int tokens = 0;
  while (auto e = g->next(std::chrono::milliseconds(5000)))
    if (e->kind == Event::Token) ++tokens;
  EXPECT_EQ(tokens, 20);
}

TEST(EngineEmbed, RefusedAsUnavailableOnceShutDown) {
  auto m = tiny_model();
  Engine engine(*m, make_backend("cpu", 1), nullptr);
  engine.shutdown(true);
  try {
    engine.submit(embed_request({1, 2}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable) << e.what();
  }
}

}  // namespace
}  // namespace hayate
