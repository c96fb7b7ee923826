// The forward pass of a BERT-family encoder (model/bert.h) on a backend's operations, as
// forward.cpp is for decoders, without a KV cache: embeddings (token + position + token type)
// and their LayerNorm, then per layer bidirectional attention, residual + LayerNorm, GELU
// feed-forward, residual + LayerNorm; then pooling or the cross-encoder's head. Several inputs of
// different lengths run as one pass (of up to the backend's encoder_pass_tokens(), 512 on the CPU;
// more inputs run as several), their rows packed one after another, attention kept inside each
// input, so that each result is what the input gives alone. forward/encoder_oracle.h is the plain
// double-precision pass it is tested against.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/bert.h"

namespace hayate {

// One input: token ids and their token types (empty: all 0).
struct EncoderInput {
  std::span<const int32_t> ids;
  std::span<const int32_t> types;
};

// Error(BadInput) for an empty input, one over the model's positions, or an id or type outside
// its tables.
void check_encoder_input(const BertModel& m, std::span<const int32_t> ids, std::span<const int32_t> types);

// The final hidden states of every input, packed: sum of the lengths x n_embd, row-major.
std::vector<float> encoder_hidden(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be);

// Each input's sentence embedding: the hidden states pooled as the model says (mean or first
// token), L2-normalised when hp.normalize. Error(BadInput) for a reranker.
std::vector<std::vector<float>> encoder_embed(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be);

// A cross-encoder's score of each (query, document) input: pooler dense + tanh over the first
// token, then the classifier's first output, raw (no sigmoid). Error(BadInput) for a model
// without that head.
std::vector<float> encoder_score(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be);

// The embedding of one input's hidden states (n rows of hp.n_embd): pooled and normalised as
// encoder_embed says, in double precision.
std::vector<float> pool_embedding(const BertHParams& hp, const float* hidden, int64_t n);

}  // namespace hayate
