// The oracle of the encoder pass (forward/encoder.h runs it on the backends): a BERT-family
// encoder (model/bert.h) read top to bottom, one input at a time: embeddings and their LayerNorm,
// then per layer bidirectional attention, residual + LayerNorm, GELU feed-forward, residual +
// LayerNorm; then pooling. Plain float code with double accumulators over weights dequantized
// as it goes, so it is its own reference (slow: tests only); a ThreadPool (optional) splits the
// matrix products by token.
#pragma once

#include <cstdint>
#include <vector>

#include "model/bert.h"

namespace hayate {

class ThreadPool;

// Final hidden states, ids.size() x n_embd, row-major. `types` holds each token's token type
// (empty: all 0). Error(BadInput) for an empty input, one over the model's positions, or an id
// or type outside its tables.
std::vector<float> bert_hidden(const BertModel& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                               ThreadPool* pool = nullptr);

// The sentence embedding: the hidden states pooled as the model says (mean or first token),
// L2-normalised when hp.normalize. Error(BadInput) for a reranker.
std::vector<float> bert_embed(const BertModel& m, const std::vector<int32_t>& ids, ThreadPool* pool = nullptr);

// A cross-encoder's score of a (query, document) input: pooler dense + tanh over the first
// token, then the classifier's first output, raw (no sigmoid). Error(BadInput) for a model
// without that head.
float bert_score(const BertModel& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                 ThreadPool* pool = nullptr);

}  // namespace hayate
