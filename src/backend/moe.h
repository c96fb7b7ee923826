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

// The (token, choice) pairs of a routing grouped by expert: expert 0's pairs first, each
// expert's in pair order (token order). Row i of the grouping is pair pair_of_row[i], the input
// row of token token_of_row[i]; pair p's row is row_of_pair[p]; expert e's rows are
// [begin[e], begin[e + 1]). A device backend gathers the inputs in this order, runs each expert
// on its slice and sums each token's rows in choice order (moe_weighted_sum).
struct ExpertGroups {
  std::vector<int32_t> pair_of_row, token_of_row, row_of_pair, begin;
};
ExpertGroups group_by_expert(const Routing& r, int32_t n_expert);

// Error(Internal) unless the weights and sizes of f fit x and out.
void check_moe_ffn(const MoeFfn& f, Tensor x, Tensor out);

// out = sum over each token's experts of weight * down(silu(gate x) * up x), x and out n x n_embd.
void moe_ffn_per_expert(Backend& be, const MoeFfn& f, Tensor x, Tensor out);
void moe_ffn_per_token(Backend& be, const MoeFfn& f, Tensor x, Tensor out);

}  // namespace hayate
