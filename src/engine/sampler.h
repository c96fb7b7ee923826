// Picks the next token from a row of logits. One Sampler per sequence: it owns the random
// generator, so a fixed seed and the same logits give the same tokens on every run.
//
// Pipeline, in this order:
//   1. penalties: repeat penalty over the last repeat_last_n ids of prompt + generated, then
//      frequency and presence penalties over the generated ids (see apply_penalties);
//   2. temperature == 0: greedy, the largest penalised logit (ties: the lowest id), done;
//   3. top-k: keep the k largest logits;
//   4. softmax at the temperature over what top-k kept;
//   5. top-p: keep the smallest set of most likely tokens whose probability reaches top_p;
//   6. min-p: keep the tokens whose probability is at least min_p times the largest one;
//   7. draw from what is left, in proportion to the probabilities of step 4.
// Steps 5 and 6 both keep a prefix of the tokens sorted by probability, so the sampler applies
// min-p first (it needs no sort) and then top-p to the survivors; the result is the same set.
// Top-p finds its cut with a quickselect on probability mass, so no step sorts the vocabulary.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/sampling_params.h"

namespace hayate {

struct TokenLogprob {
  int32_t id;
  float logprob;
};

// Log-probabilities are the log-softmax of the penalised logits at temperature 1, over the
// whole vocabulary: what the model (plus penalties) thinks, not the truncated distribution the
// token was drawn from. This is what OpenAI's API reports.
struct SampleResult {
  int32_t id;
  float logprob;
  std::vector<TokenLogprob> top;  // n_logprobs most likely tokens, most likely first
};

// Applies the penalties of step 1 in place. Ids outside [0, logits.size()) are Error(BadInput).
void apply_penalties(const SamplingParams& params, std::span<float> logits, std::span<const int32_t> prompt,
                     std::span<const int32_t> generated);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);  // validates params

  // prompt and generated are the ids of this sequence so far. Error(Internal) when the logits
  // hold NaN or +inf, or every token is -inf.
  SampleResult sample(const float* logits, int32_t n_vocab, std::span<const int32_t> prompt,
                      std::span<const int32_t> generated);

  // The same pick from only the row's most likely tokens (computed where the logits are): the
  // same id and the same draw as sample() on the whole row, when the row needs no penalty and
  // holds more than top_k finite logits (top_candidates() says how many to fetch). top.ok must
  // be true.
  SampleResult sample_top(const TopLogits& top);
  // How many of the most likely tokens sample_top() needs; 0 when it needs the whole row
  // (penalties, top-k off or larger than max_k at a temperature above 0).
  int32_t top_candidates(int32_t max_k) const;

  const SamplingParams& params() const { return params_; }

  // A token and its logit, later its unnormalised probability.
  struct Candidate {
    float weight;
    int32_t id;
  };

 private:
  int32_t draw(double max);             // steps 3 to 7
  int32_t draw_candidates(double max);  // steps 4 to 7 on candidates_
  double uniform01();                   // [0, 1), the same on every standard library

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> logits_;  // penalised copy of the caller's row
  std::vector<Candidate> candidates_;
};

}  // namespace hayate
