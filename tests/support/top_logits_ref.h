// The TopLogits of one row of logits on the host, by backend.h's contract (by logit, equal
// logits the lower id first): what tests compare a backend's top_logits and the tensor-parallel
// merge against.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/backend.h"

namespace hayate::test {

inline TopLogits host_top(const float* row, int64_t n_vocab, int32_t k) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  TopLogits t;
  std::vector<int32_t> ids;
  double max = -inf;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (std::isnan(row[i]) || row[i] == inf) t.ok = false;
    if (row[i] != -inf) {
      ids.push_back(static_cast<int32_t>(i));
      max = std::max(max, static_cast<double>(row[i]));
    }
  }
  t.n_finite = static_cast<int32_t>(ids.size());
  if (ids.empty()) t.ok = false;
  if (!t.ok) return t;
  const size_t n = std::min(ids.size(), static_cast<size_t>(k));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += row[i] == -inf ? 0.0 : std::exp(row[i] - max);
  t.log_norm = max + std::log(sum);
  for (size_t i = 0; i < n; ++i) {
    t.ids.push_back(ids[i]);
    t.logits.push_back(row[ids[i]]);
  }
  return t;
}

}  // namespace hayate::test
