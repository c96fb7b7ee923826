// The serving engine end to end on tiny synthetic models: batching must be invisible (each
// request gives what Session::generate gives alone), and the limits, cancellation and shutdown
// must behave as documented.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "core/error.h"
#include "engine/logprobs.h"
#include "engine/session.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

using namespace std::chrono_literals;

using Loaded = test::TinyModel;

const Loaded& tiny() {
  static Loaded l = test::make_tiny_model("engine-tiny.gguf", 128, 2, 256, 512);
  return l;
}

std::unique_ptr<Engine> make_engine(EngineConfig c = {}) {
  if (c.n_ctx == 0) c.n_ctx = 512;
  return std::make_unique<Engine>(*tiny().model, make_backend("cpu", 2), tiny().tokenizer.get(), c);
}

using test::greedy;

std::vector<int32_t> encode(const std::string& text) { return tiny().tokenizer->encode(text, true, false); }

struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
  Event last;
};

Collected collect(RequestHandle& h) {
  Collected c;
  while (auto e = h.next(60s)) {
    if (e->kind == Event::Token) {
      c.tokens.push_back(e->token);
      c.text += e->text;
    } else {
      c.last = *e;
    }
  }
  EXPECT_TRUE(h.finished()) << "request " << h.id() << " timed out";
  return c;
}

GenerateResult alone(const std::vector<int32_t>& prompt, const GenerateOptions& opt) {
  auto backend = make_backend("cpu", 2);
  Session session(*tiny().model, *backend, 512);
  return session.generate(prompt, opt, tiny().tokenizer.get());
}

template <class Pred>
bool wait_until(Engine& e, Pred pred) {
  for (int i = 0; i < 6000; ++i) {
    if (pred(e.stats())) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

bool no_leaks(const EngineStats& s) {
  return s.running == 0 && s.waiting == 0 && s.kv_blocks_free == s.kv_blocks_total - s.kv_blocks_cached;
}

TEST(Engine, ConcurrentRequestsGiveExactlyWhatEachGivesAlone) {
  EngineConfig c;
  c.max_batch_tokens = 48;  // forces chunked prefill of the longer prompts beside decodes
  auto engine = make_engine(c);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    std::string text = "Request " + std::to_string(i) + ": ";
    for (int j = 0; j < i * 12; ++j) text += static_cast<char>('a' + (i * 7 + j * 3) % 26);
    prompts.push_back(encode(text));
  }
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const auto& p : prompts) handles.push_back(engine->submit({p, greedy(20), false}));
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Collected got = collect(*handles[i]);
    const GenerateResult want = alone(prompts[i], greedy(20));
    EXPECT_EQ(got.tokens, want.tokens) << "prompt " << i;
    EXPECT_EQ(got.text, want.text) << "prompt " << i;
    EXPECT_EQ(got.last.kind, Event::Done);
    EXPECT_EQ(got.last.finish_reason, want.finish_reason);
    EXPECT_EQ(got.last.usage.prompt_tokens, static_cast<int32_t>(prompts[i].size()));
    EXPECT_EQ(got.last.usage.completion_tokens, static_cast<int32_t>(want.tokens.size()));
  }
  const EngineStats s = engine->stats();
  EXPECT_GT(s.max_batch_sequences, 1);
  EXPECT_LE(s.max_batch_tokens, 48);
  EXPECT_EQ(s.requests_finished, 6);
  EXPECT_TRUE(no_leaks(s));
}

// submit_together (the server's micro-batcher): one wake-up of the loop, so every prompt is
// prefilled in the first step, and each answer is still exactly what it is alone.
TEST(Engine, RequestsSubmittedTogetherArePrefilledInOneStep) {
  auto engine = make_engine();
  std::vector<std::vector<int32_t>> prompts;
  int32_t prompt_tokens = 0;
  std::vector<Request> requests;
  for (int i = 0; i < 5; ++i) {
    prompts.push_back(encode("Question number " + std::to_string(i) + " is about " + std::string(i * 3, 'x')));
    prompt_tokens += static_cast<int32_t>(prompts.back().size());
    requests.push_back({prompts.back(), greedy(6), false});
  }
  requests.push_back({{}, greedy(6), false});  // refused by itself: an empty prompt
  const std::vector<Engine::Submitted> subs = engine->submit_together(std::move(requests));
  ASSERT_EQ(subs.size(), 6u);
  ASSERT_TRUE(subs[5].error && !subs[5].handle);
  EXPECT_THROW(std::rethrow_exception(subs[5].error), Error);
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(subs[i].handle && !subs[i].error) << i;
    const Collected got = collect(*subs[i].handle);
    EXPECT_EQ(got.tokens, alone(prompts[i], greedy(6)).tokens) << "prompt " << i;
  }
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.max_batch_tokens, prompt_tokens) << "the first step holds every prompt whole";
  EXPECT_EQ(s.max_batch_sequences, 5);
  EXPECT_EQ(s.steps, 6) << "one prefill step, then five decode steps of all five";
}

TEST(Engine, SharedPrefixIsServedFromTheCacheWithIdenticalOutput) {
  auto engine = make_engine();
  std::string prefix;
  for (int i = 0; i < 64; ++i) prefix += static_cast<char>('A' + i % 26);
  auto first = encode(prefix + " first question?");
  auto second = encode(prefix + " and a different one");
  ASSERT_GE(first.size(), 64u);
  ASSERT_TRUE(std::equal(first.begin(), first.begin() + 64, second.begin()));

  const Collected a = collect(*engine->submit({first, greedy(12, true), true}));
  EXPECT_EQ(a.last.usage.cached_tokens, 0);
  const Collected b = collect(*engine->submit({second, greedy(12, true), true}));
  EXPECT_GE(b.last.usage.cached_tokens, 64);  // the 64-token prefix, in whole 16-token blocks
  EXPECT_EQ(b.tokens, alone(second, greedy(12, true)).tokens);
  const EngineStats s = engine->stats();
  EXPECT_GE(s.prefix_hit_tokens, 64);
  EXPECT_GT(s.prefix_miss_tokens, 0);
  EXPECT_GT(s.kv_blocks_cached, 0);
}

TEST(Engine, CancellingOrDroppingAHandleFreesItsBlocks) {
  auto engine = make_engine();
  auto h = engine->submit({encode("cancel me soon"), greedy(400, true), false});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(h->next(60s)->kind, Event::Token);
  // The running sequence holds blocks. (Not "used > cached": when its last block has just filled,
  // every block it holds is also in the prefix cache, and the two counts are equal.)
  EXPECT_GT(engine->stats().kv_blocks_active, 0);
  h->cancel();
  const Collected rest = collect(*h);
  EXPECT_EQ(rest.last.kind, Event::Done);
  EXPECT_EQ(rest.last.finish_reason, FinishReason::Cancelled);
  EXPECT_LT(rest.tokens.size() + 3, 400u);
  EXPECT_TRUE(wait_until(*engine, no_leaks));

  auto dropped = engine->submit({encode("nobody listens"), greedy(400, true), false});
  ASSERT_EQ(dropped->next(60s)->kind, Event::Token);
  dropped.reset();  // a client that went away
  EXPECT_TRUE(wait_until(*engine, [](const EngineStats& s) { return s.requests_finished == 2 && no_leaks(s); }));
  EXPECT_LT(engine->stats().tokens_generated, 400);
}

TEST(Engine, RejectsWhenTheQueueIsFullAndPromptsOverTheContext) {
  EngineConfig c;
  c.max_running = 1;
  c.max_waiting = 2;
  auto engine = make_engine(c);
  auto running = engine->submit({encode("long"), greedy(500, true), false});
  ASSERT_EQ(running->next(60s)->kind, Event::Token);  // admitted: the waiting queue is empty
  auto w1 = engine->submit({encode("one"), greedy(4), false});
  auto w2 = engine->submit({encode("two"), greedy(4), false});
  try {
    engine->submit({encode("three"), greedy(4), false});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Busy) << "a full queue is temporary: 429, not 503";
    EXPECT_NE(std::string(e.what()).find("queue full"), std::string::npos) << e.what();
  }
  running->cancel();
  EXPECT_EQ(collect(*w1).last.kind, Event::Done);
  EXPECT_EQ(collect(*w2).last.kind, Event::Done);

  try {
    engine->submit({std::vector<int32_t>(513, 65), greedy(4), false});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("context size of 512"), std::string::npos) << e.what();
  }
  EXPECT_THROW(engine->submit({{}, greedy(4), false}), Error);
  EXPECT_THROW(engine->submit({{100000}, greedy(4), false}), Error);
}

TEST(Engine, ShutdownDrainsAcceptedRequestsAndRejectsNewOnes) {
  auto engine = make_engine();
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 4; ++i)
    handles.push_back(engine->submit({encode("drain " + std::to_string(i)), greedy(8, true), false}));
  engine->shutdown(true);
  for (auto& h : handles) {
    const Collected c = collect(*h);
    EXPECT_EQ(c.tokens.size(), 8u);
    EXPECT_EQ(c.last.finish_reason, FinishReason::Length);
  }
  try {
    engine->submit({encode("late"), greedy(4), false});
    FAIL() << "a stopped engine must refuse requests";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable) << e.what();
  }
  EXPECT_TRUE(no_leaks(engine->stats()));
}

TEST(Engine, ShutdownWithoutDrainEndsRequestsWithAnError) {
  auto engine = make_engine();
  auto h = engine->submit({encode("interrupted"), greedy(400, true), false});
  ASSERT_EQ(h->next(60s)->kind, Event::Token);
  engine->shutdown(false);
  const Event last = collect(*h).last;
  EXPECT_EQ(last.kind, Event::Error);
  EXPECT_EQ(last.finish_reason, FinishReason::Error);
  EXPECT_EQ(last.error_kind, ErrorKind::Unavailable) << "the server answers 503 shutting_down from the kind";
}

TEST(Engine, HealthyWhileIdleLongerThanTheStallThreshold) {
  EngineConfig c;
  c.stall_seconds = 0.5;  // (thresholds this short leave room for a loaded machine's scheduling)
  auto engine = make_engine(c);
  std::this_thread::sleep_for(1500ms);  // three thresholds with nothing to do: the idle wait beats
  const EngineHealth h = engine->health();
  EXPECT_TRUE(h.ok) << h.problem;
  EXPECT_LT(h.seconds_since_beat, 0.5);
  engine->shutdown(true);
  EXPECT_FALSE(engine->health().ok);
  EXPECT_NE(engine->health().problem.find("shut down"), std::string::npos) << engine->health().problem;
}

// A step stuck past the threshold: unhealthy, the request in flight ends at once with an
// EngineUnhealthy error (not when the step ends), new requests are refused, the stall is counted once; once the
// step ends the engine is healthy and serves again. Waits on conditions, never on a guessed time.
TEST(Engine, AStepStuckPastTheThresholdFailsFastAndRecovers) {
  std::atomic<bool> in_step{false}, release{false};
  EngineConfig c;
  c.stall_seconds = 0.5;
  c.before_forward = [&] {
    in_step = true;
    while (!release) std::this_thread::sleep_for(1ms);
  };
  auto engine = make_engine(c);
  auto h = engine->submit({encode("stuck"), greedy(2, true), false});
  while (!in_step) std::this_thread::sleep_for(1ms);
  // The watchdog ends the request once the threshold has passed, while the step is still stuck.
  const Collected got = collect(*h);
  EXPECT_FALSE(release);
  EXPECT_EQ(got.last.kind, Event::Error);
  EXPECT_EQ(got.last.error_kind, ErrorKind::EngineUnhealthy) << "503 engine_unhealthy, not shutting_down";
  EXPECT_NE(got.last.error.find("stuck"), std::string::npos) << got.last.error;
  const EngineHealth stuck = engine->health();
  EXPECT_FALSE(stuck.ok);
  EXPECT_TRUE(stuck.stuck);
  EXPECT_GE(stuck.seconds_since_beat, 0.5);
  EXPECT_NE(stuck.problem.find("stuck"), std::string::npos) << stuck.problem;
  EXPECT_EQ(stuck.stalls, 1);
  try {
    engine->submit({encode("while stuck"), greedy(2, true), false});
    ADD_FAILURE() << "a stuck engine must refuse new requests at once";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::EngineUnhealthy);
    EXPECT_NE(std::string(e.what()).find("stuck"), std::string::npos) << e.what();
  }
  release = true;
  while (engine->health().stuck) std::this_thread::sleep_for(1ms);
  const EngineHealth after = engine->health();
  EXPECT_TRUE(after.ok) << after.problem;
  EXPECT_EQ(after.stalls, 1) << "one stall, counted once";
  auto again = engine->submit({encode("after"), greedy(2, true), false});
  EXPECT_EQ(collect(*again).last.finish_reason, FinishReason::Length);
}

TEST(Engine, ALoopEndedByAnExceptionIsUnhealthyAndEndsItsRequests) {
  EngineConfig c;
  c.before_forward = [] { throw 42; };  // not a std::exception: nothing in the step catches it
  auto engine = make_engine(c);
  EXPECT_TRUE(engine->health().ok);
  auto h = engine->submit({encode("doomed"), greedy(4, true), false});
  const Collected got = collect(*h);
  EXPECT_EQ(got.last.kind, Event::Error);
  EXPECT_EQ(got.last.error_kind, ErrorKind::Internal);
  EXPECT_NE(got.last.error.find("internal error"), std::string::npos) << got.last.error;
  const EngineHealth dead = engine->health();
  EXPECT_FALSE(dead.ok);
  EXPECT_NE(dead.problem.find("unknown type"), std::string::npos) << dead.problem;
  try {
    engine->submit({encode("after"), greedy(4), false});
    FAIL() << "a dead engine must refuse requests";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
  }
}

// Prompt logprobs (echo with logprobs) are Session::feed's rows through token_nll, as `hayate
// eval` scores text: equal to the bit. max_tokens 0 only scores; with tokens the generation goes on
// exactly as without them.
TEST(Engine, PromptLogprobsAreTheInProcessLogLikelihoods) {
  auto engine = make_engine();
  const std::vector<int32_t> ids = encode("the prompt whose every token is scored, longer than a block");
  Request r{ids, greedy(0), false};
  r.prompt_logprobs = true;
  r.options.sampling.n_logprobs = 3;
  auto h = engine->submit(r);
  const auto scored = h->next(60s);
  ASSERT_TRUE(scored);
  ASSERT_EQ(scored->kind, Event::PromptLogprobs);
  const std::vector<SampleResult>& got = scored->prompt_logprobs;
  ASSERT_EQ(got.size(), ids.size() - 1);
  const Collected rest = collect(*h);
  EXPECT_TRUE(rest.tokens.empty());
  EXPECT_EQ(rest.last.kind, Event::Done);
  EXPECT_EQ(rest.last.finish_reason, FinishReason::Length);
  EXPECT_EQ(rest.last.usage.prompt_tokens, static_cast<int32_t>(ids.size()));

  auto backend = make_backend("cpu", 2);
  Session session(*tiny().model, *backend, 512);
  const std::vector<float> logits = session.feed(ids, true);
  const int32_t n_vocab = tiny().model->hp.n_vocab;
  for (size_t t = 1; t < ids.size(); ++t) {
    int32_t top1 = 0;
    const double nll = token_nll(logits.data() + (t - 1) * static_cast<size_t>(n_vocab), n_vocab, ids[t], &top1);
    EXPECT_EQ(got[t - 1].id, ids[t]);
    EXPECT_EQ(got[t - 1].logprob, static_cast<float>(-nll)) << "position " << t;
    ASSERT_EQ(got[t - 1].top.size(), 3u);
    EXPECT_EQ(got[t - 1].top[0].id, top1);
    EXPECT_GE(got[t - 1].top[0].logprob, got[t - 1].logprob);
    EXPECT_GE(got[t - 1].top[0].logprob, got[t - 1].top[1].logprob);
    EXPECT_GE(got[t - 1].top[1].logprob, got[t - 1].top[2].logprob);
  }

  r.options = greedy(5, true);
  auto with = engine->submit(r);
  ASSERT_EQ(with->next(60s)->kind, Event::PromptLogprobs);
  const Collected generated = collect(*with);
  EXPECT_EQ(generated.tokens, alone(ids, greedy(5, true)).tokens) << "scoring leaves the generation as it was";
}

TEST(Engine, CountsFinishReasonsAndActiveBlocks) {
  auto engine = make_engine();
  EXPECT_EQ(engine->stats().kv_blocks_active, 0);
  auto a = engine->submit({encode("count me, a prompt of more than one block of sixteen"), greedy(3, true), false});
  collect(*a);
  auto b = engine->submit({encode("count me too"), greedy(400, true), false});
  ASSERT_EQ(b->next(60s)->kind, Event::Token);
  EXPECT_GT(engine->stats().kv_blocks_active, 0);
  b->cancel();
  collect(*b);
  EXPECT_TRUE(wait_until(*engine, [](const EngineStats& s) { return s.requests_finished == 2; }));
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.finished_length, 1);
  EXPECT_EQ(s.finished_cancelled, 1);
  EXPECT_EQ(s.finished_stop + s.finished_error, 0);
  EXPECT_EQ(s.kv_blocks_active, 0) << "nothing runs, so only the prefix cache holds blocks";
  EXPECT_GT(s.kv_blocks_cached, 0);
  EXPECT_EQ(s.kv_blocks_used, s.kv_blocks_cached);
}

// Not a pass/fail check: aggregate decode throughput with 8 streams against 1, for the record
// (best of three runs each, since the machine may be shared).
TEST(Engine, ThroughputEightStreamsVersusOne) {
  static Loaded model256 = test::make_tiny_model("engine-256.gguf", 256, 4, 768, 512);
  const int32_t n_tokens = 128;
  auto measure = [&](int streams) {
    double best = 0;
    for (int run = 0; run < 3; ++run) {
      Engine engine(*model256.model, make_backend("cpu", 2), model256.tokenizer.get(), EngineConfig{512});
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::shared_ptr<RequestHandle>> hs;
      for (int i = 0; i < streams; ++i)
        hs.push_back(engine.submit(
            {model256.tokenizer->encode("stream " + std::to_string(i), true, false), greedy(n_tokens, true), false}));
      int64_t total = 0;
      for (auto& h : hs) total += static_cast<int64_t>(collect(*h).tokens.size());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, static_cast<double>(total) / s);
    }
    return best;
  };
  const double one = measure(1), eight = measure(8);
  std::cout << "[throughput] llama 256-dim 4 layers f16 (synthetic), cpu backend 2 threads, " << n_tokens
            << " tokens per stream: 1 stream " << one << " tok/s, 8 streams " << eight << " tok/s aggregate ("
            << eight / one << "x)\n";
}

}  // namespace
}  // namespace hayate
