// Running a model over a token list with the batched forward pass, for the tests that compare
// backends, windows or step sizes. The test that includes this includes backend/ and forward/
// itself, so that it links them.
#pragma once

#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "forward/forward.h"

namespace hayate::test {

// Logits of every position of `tokens` (positions 0, 1, ...), fed in chunks of `chunk` tokens
// through one sequence whose `blocks` blocks of 16 positions are out of order on purpose.
inline std::vector<float> run_tokens(const Model& m, Backend& be, const std::vector<int32_t>& tokens, size_t chunk,
                                     int blocks = 16) {
  auto kv = be.make_kv_cache(m.hp, blocks, 16);
  std::vector<int32_t> table;
  for (int i = 0; i < blocks; ++i) table.push_back(blocks - 1 - i);
  std::vector<float> all;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    Batch b;
    b.sequences.push_back({table});
    for (size_t i = start; i < std::min(tokens.size(), start + chunk); ++i)
      b.add(tokens[i], static_cast<int32_t>(i), 0, true);
    auto out = forward(m, b, *kv, be);
    all.insert(all.end(), out.begin(), out.end());
  }
  return all;
}

// n ids spread over the vocabulary, the same on every run.
inline std::vector<int32_t> some_tokens(int n, int vocab, int step = 37, int offset = 11) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * step + offset) % vocab);
  return t;
}

}  // namespace hayate::test
