// Running a model over a token list with the batched forward pass, for the tests that compare
// backends, windows or step sizes. The test that includes this includes backend/ and forward/
// itself, so that it links them.
#pragma once

#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "forward/forward.h"
#include "support/test_util.h"

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

// The steps of the split and tensor-parallel tests.
struct Steps {
  std::vector<float> logits;    // every row of every step, in order
  std::vector<int32_t> greedy;  // the tokens each decode step fed back, both sequences
  std::vector<float> hidden;    // forward_hidden of a last, separate step
};

// Two sequences: their prompts in one interleaved batch (two chunks), then decode steps of both
// in one batch, each fed its own greedy token.
inline Steps two_sequence_steps(const Model& m, Backend& be) {
  auto kv = be.make_kv_cache(m.hp, 8, 16);
  const int32_t v = m.hp.n_vocab;
  std::vector<std::vector<int32_t>> seqs = {{}, {}};
  for (int i = 0; i < 11; ++i) seqs[0].push_back((i * 37 + 5) % v);
  for (int i = 0; i < 7; ++i) seqs[1].push_back((i * 53 + 2) % v);
  const std::vector<BatchSequence> tables = {{{6, 1, 3}}, {{0, 7, 2}}};
  Steps r;
  auto step = [&](const std::vector<std::pair<int32_t, int32_t>>& rows) {  // (sequence, position)
    Batch b;
    b.sequences = tables;
    for (const auto& [s, p] : rows) b.add(seqs[s][p], p, s, true);
    const std::vector<float> out = forward(m, b, *kv, be);
    r.logits.insert(r.logits.end(), out.begin(), out.end());
    return out;
  };
  step({{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}, {0, 3}});  // prompt chunk 1
  std::vector<std::pair<int32_t, int32_t>> rest;
  for (int32_t p = 4; p < 11; ++p) rest.push_back({0, p});
  for (int32_t p = 2; p < 7; ++p) rest.push_back({1, p});
  std::vector<float> out = step(rest);  // prompt chunk 2: the last rows are each sequence's last
  std::vector<size_t> last = {6, 11};
  for (int d = 0; d < 4; ++d) {
    std::vector<std::pair<int32_t, int32_t>> rows;
    for (int32_t s = 0; s < 2; ++s) {
      const int32_t next = argmax(out.data() + last[s] * v, v);
      r.greedy.push_back(next);
      rows.push_back({s, static_cast<int32_t>(seqs[s].size())});
      seqs[s].push_back(next);
    }
    out = step(rows);
    last = {0, 1};
  }
  Batch b;
  b.sequences = tables;
  b.add(seqs[0][0], 0, 0, true);
  b.add(seqs[1][3], 3, 1, true);
  r.hidden = forward_hidden(m, b, *kv, be);
  return r;
}

}  // namespace hayate::test
