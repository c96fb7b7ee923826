// How the next token is picked, as plain data: what a request, a flag or a config asks of the
// sampler (engine/sampler.h). A leaf header, so the wire format (api/) and the CLI can carry
// sampling settings without linking the engine.
#pragma once

#include <cstdint>

namespace hayate {

struct SamplingParams {
  float temperature = 0.8f;  // 0 = greedy
  int32_t top_k = 40;        // <= 0: off
  float top_p = 0.95f;       // 1: off
  float min_p = 0.05f;       // 0: off
  // llama.cpp style: a logit l of a token among the last repeat_last_n ids (prompt included)
  // becomes l / p when l > 0, else l * p. 1: off.
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;  // 0: none, -1: the whole history
  // OpenAI style, over all generated ids: l -= count * frequency + (count > 0) * presence.
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0xffffffffffffffffull;  // this value: a random seed from the OS
  int32_t n_logprobs = 0;                 // how many top alternatives to report (0..20)

  // Error(BadInput) naming the field and its allowed range.
  void validate() const;
};

}  // namespace hayate
