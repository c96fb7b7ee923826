// Log-probabilities of given ids from rows of logits: the one computation behind `hayate eval`'s
// perplexity and log-likelihoods (Session::feed with every row) and the server's prompt
// logprobs (echo, Engine with Request::prompt_logprobs), so the two agree to the bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampler.h"

namespace hayate {

// -log p(target) from one row of logits (log-softmax in double); *top1 gets the row's argmax.
double token_nll(const float* logits, int32_t n_vocab, int32_t target, int32_t* top1);

// For ids[1..]: the log-probability of ids[t] given ids[0..t), from row t-1 of logits (one row
// per id, as Session::feed(ids, true) returns them), with the n_top most likely ids of that row
// (most likely first). ids[0] has no row before it and gets no entry: the result has
// ids.size() - 1 entries.
std::vector<SampleResult> prompt_logprobs(std::span<const float> logits, int32_t n_vocab, std::span<const int32_t> ids,
                                          int32_t n_top);

}  // namespace hayate
