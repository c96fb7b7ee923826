// A batch for one forward step: tokens that may belong to several sequences at different
// positions, as vLLM's model runner takes them. `hayate run` is a batch of one sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace hayate {

// Rows that replace the token embeddings of positions [position, position + n_rows) of a
// sequence: an image's projected features at the image's placeholder tokens.
struct EmbeddingRows {
  int32_t position = 0;
  int32_t n_rows = 0;
  uint64_t content_hash = 0;                       // of the image's pixels: part of the prefix cache's key
  std::shared_ptr<const std::vector<float>> data;  // n_rows x n_embd, row-major
};

struct BatchSequence {
  std::vector<int32_t> block_table;  // KV block ids holding positions [i*block_size, (i+1)*block_size)
};

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;  // position of each token within its sequence
  std::vector<int32_t> seq;        // index into `sequences` for each token
  std::vector<uint8_t> logits;     // 1 where the logits of this token are wanted
  std::vector<BatchSequence> sequences;
  // (batch row, n_embd floats): the forward pass feeds these rows instead of the token's embedding.
  std::vector<std::pair<int32_t, const float*>> embeddings;

  size_t size() const { return tokens.size(); }
  void add(int32_t token, int32_t position, int32_t sequence, bool want_logits) {
    tokens.push_back(token);
    positions.push_back(position);
    seq.push_back(sequence);
    logits.push_back(want_logits ? 1 : 0);
  }
  int32_t n_outputs() const {
    int32_t n = 0;
    for (uint8_t l : logits) n += l;
    return n;
  }
};

}  // namespace hayate
