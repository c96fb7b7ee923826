// A batch for one forward step: tokens that may belong to several sequences at different
// positions, as vLLM's model runner takes them. `hayate run` is a batch of one sequence.
#pragma once

#include <cstdint>
#include <vector>

namespace hayate {

struct BatchSequence {
  std::vector<int32_t> block_table;  // KV block ids holding positions [i*block_size, (i+1)*block_size)
};

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;  // position of each token within its sequence
  std::vector<int32_t> seq;        // index into `sequences` for each token
  std::vector<uint8_t> logits;     // 1 where the logits of this token are wanted
  std::vector<BatchSequence> sequences;

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
