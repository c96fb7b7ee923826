#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "engine/sampler.h"

namespace hayate {
namespace {

std::vector<float> log_of(std::vector<double> probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// Everything off: plain sampling at temperature 1.
SamplingParams plain(uint64_t seed = 42) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

std::vector<double> frequencies(const SamplingParams& params, const std::vector<float>& logits, int draws) {
  Sampler sampler(params);
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    const auto r = sampler.sample(logits.data(), int32_t(logits.size()), {}, {});
    freq.at(size_t(r.id)) += 1.0 / draws;
  }
  return freq;
}

void expect_distribution(const SamplingParams& params, const std::vector<float>& logits, std::vector<double> expected) {
  const double total = std::accumulate(expected.begin(), expected.end(), 0.0);
  const auto freq = frequencies(params, logits, 20000);
  for (size_t i = 0; i < expected.size(); ++i) {
    const double want = expected[i] / total;
    if (want == 0) {
      EXPECT_EQ(freq[i], 0.0) << "token " << i << " should have been cut";
    } else {
      EXPECT_NEAR(freq[i], want, 0.015) << "token " << i;
    }
  }
}

// Probabilities deliberately not in id order, so that the sampler's sorting matters.
const std::vector<double> kProbs = {0.15, 0.50, 0.10, 0.25};

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplingParams p = plain();
  p.temperature = 0;
  Sampler sampler(p);
  const std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f, 1.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler.sample(logits.data(), 5, {}, {}).id, 1);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  SamplingParams p;
  p.top_k = 1;
  p.temperature = 1.5f;
  p.seed = 3;
  Sampler sampler(p);
  for (int round = 0; round < 50; ++round) {
    std::vector<float> logits(1000);
    for (auto& l : logits) l = normal(gen);
    const auto argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(sampler.sample(logits.data(), 1000, {}, {}).id, argmax);
  }
}

TEST(Sampler, SameSeedSameTokens) {
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<std::vector<float>> rows(200, std::vector<float>(500));
  for (auto& row : rows)
    for (auto& l : row) l = normal(gen);

  auto run = [&](uint64_t seed) {
    SamplingParams p;  // defaults: top-k, top-p and min-p all on
    p.seed = seed;
    p.temperature = 1.2f;
    Sampler sampler(p);
    std::vector<int32_t> ids;
    for (const auto& row : rows) ids.push_back(sampler.sample(row.data(), 500, {}, ids).id);
    return ids;
  };
  EXPECT_EQ(run(1234), run(1234));
  EXPECT_NE(run(1234), run(1235));
}

TEST(Sampler, PlainDistribution) { expect_distribution(plain(), log_of(kProbs), kProbs); }

TEST(Sampler, TemperatureSharpens) {
  SamplingParams p = plain();
  p.temperature = 0.5f;  // p^(1/0.5) = p^2
  std::vector<double> expected;
  for (double q : kProbs) expected.push_back(q * q);
  expect_distribution(p, log_of(kProbs), expected);
}

TEST(Sampler, TopKCuts) {
  SamplingParams p = plain();
  p.top_k = 2;
  expect_distribution(p, log_of(kProbs), {0, 0.50, 0, 0.25});
}

TEST(Sampler, TopPCuts) {
  SamplingParams p = plain();
  p.top_p = 0.8f;  // 0.50 + 0.25 = 0.75 < 0.8, so 0.15 is needed too
  expect_distribution(p, log_of(kProbs), {0.15, 0.50, 0, 0.25});
}

TEST(Sampler, MinPCuts) {
  SamplingParams p = plain();
  p.min_p = 0.4f;  // keeps p >= 0.2
  expect_distribution(p, log_of(kProbs), {0, 0.50, 0, 0.25});
}

TEST(Sampler, MinPActsOnTemperatureScaledProbabilities) {
  SamplingParams p = plain();
  p.temperature = 0.5f;  // squared: 0.0225, 0.25, 0.01, 0.0625
  p.min_p = 0.2f;        // keeps >= 0.05 (unscaled it would keep 0.15 as well)
  expect_distribution(p, log_of(kProbs), {0, 0.25, 0, 0.0625});
}

TEST(Sampler, TopPThenMinPTakesTheSmallerSet) {
  SamplingParams p = plain();
  p.top_p = 0.8f;   // would keep three
  p.min_p = 0.45f;  // keeps only 0.50 and 0.25
  expect_distribution(p, log_of(kProbs), {0, 0.50, 0, 0.25});
  p.min_p = 0.1f;  // would keep all four: top-p decides
  expect_distribution(p, log_of(kProbs), {0.15, 0.50, 0, 0.25});
}

// A large, flat vocabulary makes the nucleus thousands of tokens wide, so the growing partial
// sort runs several rounds; every draw must land in the nucleus found by a full sort.
TEST(Sampler, TopPOnLargeVocabularyMatchesFullSort) {
  const int32_t n_vocab = 150000;
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  for (auto& l : logits) l = normal(gen);

  SamplingParams p = plain(99);
  p.top_p = 0.5f;
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  double total = 0;
  for (float l : logits) total += std::exp(double(l));
  std::set<int32_t> nucleus;
  double sum = 0;
  for (int32_t id : order) {
    nucleus.insert(id);
    sum += std::exp(double(logits[id]));
    if (sum >= p.top_p * total) break;
  }
  ASSERT_GT(nucleus.size(), 5000u);

  Sampler sampler(p);
  for (int i = 0; i < 200; ++i) {
    const int32_t id = sampler.sample(logits.data(), n_vocab, {}, {}).id;
    EXPECT_TRUE(nucleus.count(id)) << "token " << id << " is outside the nucleus";
  }
}

// Equal logits are ordered by id, so the nucleus of a uniform distribution is the lowest ids.
TEST(Sampler, TopPOnTiesKeepsLowestIds) {
  const std::vector<float> logits(10000, 0.5f);
  SamplingParams p = plain(4);
  p.top_p = 0.25f;
  Sampler sampler(p);
  int32_t highest = 0;
  for (int i = 0; i < 2000; ++i) highest = std::max(highest, sampler.sample(logits.data(), 10000, {}, {}).id);
  EXPECT_LT(highest, 2500);
  EXPECT_GT(highest, 2400);  // and the nucleus is not smaller than it should be
}

TEST(Sampler, LargeTopKKeepsTheLargestLogits) {
  std::mt19937 gen(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(50000);
  for (auto& l : logits) l = normal(gen);
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  SamplingParams p = plain(10);
  p.top_k = 3000;
  Sampler sampler(p);
  for (int i = 0; i < 500; ++i) {
    const int32_t id = sampler.sample(logits.data(), 50000, {}, {}).id;
    EXPECT_GE(logits[size_t(id)], sorted[2999]);
  }
}

TEST(Sampler, NegativeInfinityIsNeverDrawn) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {-inf, 0.0f, -inf, 0.0f};
  Sampler sampler(plain());
  for (int i = 0; i < 200; ++i) {
    const auto r = sampler.sample(logits.data(), 4, {}, {});
    EXPECT_TRUE(r.id == 1 || r.id == 3);
    EXPECT_NEAR(r.logprob, std::log(0.5f), 1e-6);
  }
}

TEST(Sampler, BrokenLogitsAreInternalErrors) {
  Sampler sampler(plain());
  const float inf = std::numeric_limits<float>::infinity();
  for (const auto& logits :
       {std::vector<float>{0.0f, NAN}, std::vector<float>{0.0f, inf}, std::vector<float>{-inf, -inf}}) {
    try {
      sampler.sample(logits.data(), 2, {}, {});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Internal);
    }
  }
}

// Log-probabilities of every token tell the penalised logits up to a constant.
std::vector<float> penalised(const SamplingParams& params, const std::vector<float>& logits,
                             std::vector<int32_t> prompt, std::vector<int32_t> generated) {
  std::vector<float> out = logits;
  apply_penalties(params, out, prompt, generated);

  SamplingParams p = params;
  p.n_logprobs = int32_t(logits.size());
  Sampler sampler(p);
  const auto r = sampler.sample(logits.data(), int32_t(logits.size()), prompt, generated);
  std::vector<float> from_logprobs(logits.size());
  for (const auto& t : r.top) from_logprobs[size_t(t.id)] = t.logprob - r.top.back().logprob;
  const float shift = out[size_t(r.top.back().id)];
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(from_logprobs[i] + shift, out[i], 1e-5) << "token " << i;
  return out;
}

TEST(Sampler, RepeatPenaltyOverLastN) {
  SamplingParams p = plain();
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 3;
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 1.0f, 4.0f, -3.0f};
  // Last 3 of prompt ++ generated: 1, 0, 1. Token 4 is too old; repeats count once.
  const auto out = penalised(p, logits, {4, 5, 1}, {0, 1});
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 0.5f, 1.0f, 4.0f, -3.0f}));

  p.repeat_last_n = -1;  // everything, prompt included
  EXPECT_EQ(penalised(p, logits, {4, 5, 1}, {0, 1}), (std::vector<float>{1.0f, -2.0f, 0.5f, 1.0f, 2.0f, -6.0f}));
  p.repeat_last_n = 0;
  EXPECT_EQ(penalised(p, logits, {4, 5, 1}, {0, 1}), logits);
}

TEST(Sampler, FrequencyAndPresencePenaltiesOverGenerated) {
  SamplingParams p = plain();
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 1.0f};
  // The prompt does not count; token 2 was generated three times, token 0 once.
  const auto out = penalised(p, logits, {1, 1, 1}, {2, 0, 2, 2});
  EXPECT_EQ(out, (std::vector<float>{2.0f - 0.75f, -1.0f, 0.5f - 1.75f, 1.0f}));
}

TEST(Sampler, RepeatPenaltyComesFirst) {
  SamplingParams p = plain();
  p.repeat_penalty = 2.0f;
  p.presence_penalty = 1.0f;
  const std::vector<float> logits = {3.0f, 1.0f};
  // (3 / 2) - 1, not (3 - 1) / 2.
  EXPECT_EQ(penalised(p, logits, {}, {0}), (std::vector<float>{0.5f, 1.0f}));
}

TEST(Sampler, PenaltiesRejectIdsOutsideVocabulary) {
  SamplingParams p = plain();
  p.presence_penalty = 1.0f;
  std::vector<float> logits = {0.0f, 0.0f};
  const std::vector<int32_t> generated = {0, 2};
  EXPECT_THROW(apply_penalties(p, logits, {}, generated), Error);
}

TEST(Sampler, GreedyUsesPenalisedLogits) {
  SamplingParams p = plain();
  p.temperature = 0;
  p.presence_penalty = 2.0f;
  Sampler sampler(p);
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f};
  const std::vector<int32_t> generated = {1};
  EXPECT_EQ(sampler.sample(logits.data(), 3, {}, generated).id, 0);
}

TEST(Sampler, LogprobsSortedAndNormalised) {
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(3000);
  for (auto& l : logits) l = normal(gen);
  logits[17] = logits[18] = 9.0f;  // a tie: the lower id comes first

  SamplingParams p;
  p.seed = 8;
  p.n_logprobs = 20;
  Sampler sampler(p);
  const auto r = sampler.sample(logits.data(), 3000, {}, {});
  ASSERT_EQ(r.top.size(), 20u);
  EXPECT_EQ(r.top[0].id, 17);
  EXPECT_EQ(r.top[1].id, 18);
  double mass = 0;
  for (size_t i = 0; i < r.top.size(); ++i) {
    EXPECT_LE(r.top[i].logprob, 0.0f);
    if (i > 0) {
      EXPECT_LE(r.top[i].logprob, r.top[i - 1].logprob);
    }
    mass += std::exp(double(r.top[i].logprob));
  }
  EXPECT_LE(mass, 1.0 + 1e-6);
  EXPECT_GT(mass, 0.5);

  // The drawn token's log-probability is the temperature-1 one, also when it was in the top.
  double norm = 0;
  for (float l : logits) norm += std::exp(double(l));
  EXPECT_NEAR(r.logprob, logits[size_t(r.id)] - std::log(norm), 1e-4);
}

TEST(Sampler, LogprobsOfAllTokensSumToOne) {
  SamplingParams p = plain();
  p.n_logprobs = 4;
  Sampler sampler(p);
  const auto logits = log_of(kProbs);
  const auto r = sampler.sample(logits.data(), 4, {}, {});
  ASSERT_EQ(r.top.size(), 4u);
  EXPECT_EQ(r.top[0].id, 1);
  EXPECT_EQ(r.top[3].id, 2);
  double mass = 0;
  for (const auto& t : r.top) mass += std::exp(double(t.logprob));
  EXPECT_NEAR(mass, 1.0, 1e-5);
}

void expect_invalid(void (*change)(SamplingParams&), const char* field) {
  SamplingParams p;
  change(p);
  try {
    p.validate();
    ADD_FAILURE() << field << ": no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
  EXPECT_THROW(Sampler{p}, Error);
}

TEST(Sampler, ValidateRejectsNonsense) {
  EXPECT_NO_THROW(SamplingParams{}.validate());
  expect_invalid([](SamplingParams& p) { p.temperature = NAN; }, "temperature");
  expect_invalid([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature");
  expect_invalid([](SamplingParams& p) { p.temperature = INFINITY; }, "temperature");
  expect_invalid([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p");
  expect_invalid([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p");
  expect_invalid([](SamplingParams& p) { p.top_p = NAN; }, "top_p");
  expect_invalid([](SamplingParams& p) { p.min_p = -0.01f; }, "min_p");
  expect_invalid([](SamplingParams& p) { p.min_p = 1.01f; }, "min_p");
  expect_invalid([](SamplingParams& p) { p.min_p = NAN; }, "min_p");
  expect_invalid([](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty");
  expect_invalid([](SamplingParams& p) { p.repeat_penalty = -1.0f; }, "repeat_penalty");
  expect_invalid([](SamplingParams& p) { p.repeat_last_n = -2; }, "repeat_last_n");
  expect_invalid([](SamplingParams& p) { p.frequency_penalty = 2.5f; }, "frequency_penalty");
  expect_invalid([](SamplingParams& p) { p.frequency_penalty = NAN; }, "frequency_penalty");
  expect_invalid([](SamplingParams& p) { p.presence_penalty = -3.0f; }, "presence_penalty");
  expect_invalid([](SamplingParams& p) { p.n_logprobs = 21; }, "n_logprobs");
  expect_invalid([](SamplingParams& p) { p.n_logprobs = -1; }, "n_logprobs");

  SamplingParams ok;
  ok.temperature = 0;
  ok.top_k = -5;
  ok.top_p = 1;
  ok.min_p = 1;
  ok.frequency_penalty = -2;
  ok.presence_penalty = 2;
  ok.repeat_last_n = -1;
  ok.n_logprobs = 20;
  EXPECT_NO_THROW(ok.validate());
}

}  // namespace
}  // namespace hayate
