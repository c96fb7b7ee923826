// Mixture-of-experts feed-forward over backend operations: routing (softmax over the experts,
// top-k, optional renormalisation, as transformers' Mixtral and Qwen3-MoE do) and two ways to
// run the experts that give bit-identical results: per expert, over all the tokens routed to it
// (one matmul per expert: what Backend::moe_ffn does), and per token (the readable oracle the
// reference backend uses). Both sum a token's expert outputs in its routing order.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace hayate {

// Token t's choices are expert[t * k + j], weight[t * k + j] for j < k, most probable first
// (equal router logits: the lower expert first).
struct Routing {
  int32_t k = 0;
  std::vector<int32_t> expert;
  std::vector<float> weight;
};

// Routes n_tokens rows of n_expert router logits (row-major).
Routing route_tokens(const float* logits, int64_t n_tokens, int32_t n_expert, int32_t k, bool norm_weights);

// out = sum over each token's experts of weight * down(silu(gate x) * up x), x and out n x n_embd.
void moe_ffn_per_expert(Backend& be, const MoeFfn& f, Tensor x, Tensor out);
void moe_ffn_per_token(Backend& be, const MoeFfn& f, Tensor x, Tensor out);

}  // namespace hayate
