// The output processor alone (fake logits), and its Constraint hook honoured on both paths that
// use it: the serving engine and Session::generate (run, chat, eval).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/engine.h"
#include "engine/output.h"
#include "engine/session.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

using namespace std::chrono_literals;

// Allows only even ids.
class EvenOnly : public Constraint {
 public:
  void mask(std::span<float> logits) override {
    for (size_t i = 1; i < logits.size(); i += 2) logits[i] = -std::numeric_limits<float>::infinity();
  }
  bool accept(int32_t id) override {
    EXPECT_EQ(id % 2, 0) << "the sampler picked an id the mask forbade";
    return false;
  }
};

// Allows anything and ends the sequence after n ids.
class EndAfter : public Constraint {
 public:
  explicit EndAfter(int n) : left_(n) {}
  void mask(std::span<float>) override {}
  bool accept(int32_t) override { return --left_ == 0; }

 private:
  int left_;
};

GenerateOptions greedy(int32_t max_tokens) { return test::greedy(max_tokens, true); }

TEST(OutputProcessor, FinishReasonsHaveTheWireNames) {
  EXPECT_STREQ(to_string(FinishReason::Stop), "stop");
  EXPECT_STREQ(to_string(FinishReason::Length), "length");
  EXPECT_STREQ(to_string(FinishReason::Cancelled), "cancelled");
  EXPECT_STREQ(to_string(FinishReason::Error), "error");
}

TEST(OutputProcessor, EndsAtMaxTokensAndAtTheContext) {
  const std::vector<float> row{0, 1, 5, 2};  // greedy: 2
  const std::vector<int32_t> prompt{1, 1};
  OutputProcessor three(greedy(3), nullptr, 100);
  std::vector<int32_t> generated;
  for (int i = 0; i < 3; ++i) {
    const TokenOutput out = three.next(row, prompt, generated, 2 + i);
    EXPECT_EQ(out.sample.id, 2);
    EXPECT_EQ(out.finish.has_value(), i == 2) << i;
    if (out.finish) {
      EXPECT_EQ(*out.finish, FinishReason::Length);
    }
    generated.push_back(out.sample.id);
  }
  const TokenOutput one = OutputProcessor(greedy(1), nullptr, 100).next(row, prompt, {}, 2);
  ASSERT_TRUE(one.finish);
  EXPECT_EQ(*one.finish, FinishReason::Length);

  // The id would go at position n_past: inside a context of 5 only while n_past < 5.
  OutputProcessor ctx(greedy(100), nullptr, 5);
  EXPECT_FALSE(ctx.next(row, prompt, {}, 4).finish);
  const TokenOutput last = ctx.next(row, prompt, std::vector<int32_t>{2}, 5);
  ASSERT_TRUE(last.finish);
  EXPECT_EQ(*last.finish, FinishReason::Length);
}

TEST(OutputProcessor, ConstraintMasksACopyAndCanEndTheSequence) {
  std::vector<float> row(16);
  std::iota(row.begin(), row.end(), 0.0f);  // the largest logits are odd ids
  const std::vector<float> before = row;
  GenerateOptions o = greedy(100);
  o.sampling.temperature = 1;
  o.sampling.top_k = 0;
  o.sampling.min_p = 0;
  o.sampling.seed = 7;
  o.constraint = [] { return std::make_unique<EvenOnly>(); };
  OutputProcessor even(o, nullptr, 1000);
  std::vector<int32_t> generated;
  for (int i = 0; i < 50; ++i) {
    const TokenOutput out = even.next(row, {}, generated, i);
    EXPECT_EQ(out.sample.id % 2, 0);
    generated.push_back(out.sample.id);
  }
  EXPECT_EQ(row, before) << "the caller's row (the forward's output) is not changed";

  GenerateOptions e = greedy(100);
  e.constraint = [] { return std::make_unique<EndAfter>(3); };
  OutputProcessor ends(e, nullptr, 1000);
  generated.clear();
  std::optional<FinishReason> finish;
  while (!finish) {
    const TokenOutput out = ends.next(row, {}, generated, static_cast<int32_t>(generated.size()));
    generated.push_back(out.sample.id);
    finish = out.finish;
  }
  EXPECT_EQ(generated.size(), 3u);
  EXPECT_EQ(*finish, FinishReason::Stop);
}

// ---- on both paths, with a model ----

const test::TinyModel& tiny() {
  static test::TinyModel m = test::make_tiny_model("output-tiny.gguf");
  return m;
}

std::vector<int32_t> prompt_ids() { return tiny().tokenizer->encode("constrain me", true, false); }

GenerateResult via_session(const GenerateOptions& o) {
  auto backend = make_backend("cpu", 2);
  Session session(*tiny().model, *backend, 256);
  return session.generate(prompt_ids(), o, tiny().tokenizer.get());
}

struct Streamed {
  std::vector<int32_t> tokens;
  std::string text;
  Event last;
};

std::vector<Streamed> via_engine(const GenerateOptions& o, int n_requests) {
  Engine engine(*tiny().model, make_backend("cpu", 2), tiny().tokenizer.get(), EngineConfig{256});
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < n_requests; ++i) handles.push_back(engine.submit({prompt_ids(), o, false}));
  std::vector<Streamed> out(handles.size());
  for (size_t i = 0; i < handles.size(); ++i) {
    while (auto e = handles[i]->next(60s)) {
      if (e->kind == Event::Token) {
        out[i].tokens.push_back(e->token);
        out[i].text += e->text;
      } else {
        out[i].last = *e;
      }
    }
    EXPECT_TRUE(handles[i]->finished());
  }
  return out;
}

TEST(OutputConstraint, OnlyEvenIdsInTheEngineAndInSession) {
  GenerateOptions o = greedy(24);
  o.constraint = [] { return std::make_unique<EvenOnly>(); };
  const GenerateResult alone = via_session(o);
  ASSERT_EQ(alone.tokens.size(), 24u);
  for (int32_t id : alone.tokens) EXPECT_EQ(id % 2, 0) << id;
  EXPECT_NE(alone.tokens, via_session(greedy(24)).tokens) << "the model alone picks odd ids too";

  for (const Streamed& s : via_engine(o, 3)) {
    EXPECT_EQ(s.tokens, alone.tokens) << "batched or alone, the same constrained ids";
    EXPECT_EQ(s.text, alone.text);
    EXPECT_EQ(s.last.finish_reason, FinishReason::Length);
  }
}

TEST(OutputConstraint, EndsTheSequenceInTheEngineAndInSession) {
  GenerateOptions o = greedy(100);
  o.constraint = [] { return std::make_unique<EndAfter>(5); };
  const GenerateResult alone = via_session(o);
  EXPECT_EQ(alone.tokens.size(), 5u);
  EXPECT_EQ(alone.finish_reason, FinishReason::Stop);
  // The last id's text is out, as when max_tokens ends it.
  const GenerateResult five = via_session(greedy(5));
  EXPECT_EQ(alone.tokens, five.tokens);
  EXPECT_EQ(alone.text, five.text);
  EXPECT_EQ(five.finish_reason, FinishReason::Length);

  // Each of the concurrent requests has a constraint of its own.
  for (const Streamed& s : via_engine(o, 3)) {
    EXPECT_EQ(s.tokens, alone.tokens);
    EXPECT_EQ(s.text, alone.text);
    EXPECT_EQ(s.last.kind, Event::Done);
    EXPECT_EQ(s.last.finish_reason, FinishReason::Stop);
    EXPECT_EQ(s.last.usage.completion_tokens, 5);
  }
}

}  // namespace
}  // namespace hayate
