#include "engine/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hayate {

double token_nll(const float* logits, int32_t n_vocab, int32_t target, int32_t* top1) {
  const float* best = std::max_element(logits, logits + n_vocab);
  *top1 = static_cast<int32_t>(best - logits);
  double sum = 0;
  for (int32_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - *best);
  return std::log(sum) + *best - logits[target];
}

std::vector<SampleResult> prompt_logprobs(std::span<const float> logits, int32_t n_vocab, std::span<const int32_t> ids,
                                          int32_t n_top) {
  std::vector<SampleResult> out;
  if (ids.size() < 2) return out;
  out.reserve(ids.size() - 1);
  const auto k = static_cast<size_t>(std::clamp(n_top, 0, n_vocab));
  std::vector<int32_t> order(static_cast<size_t>(n_vocab));
  for (size_t t = 1; t < ids.size(); ++t) {
    const float* row = logits.data() + (t - 1) * static_cast<size_t>(n_vocab);
    int32_t top1 = 0;
    const double nll = token_nll(row, n_vocab, ids[t], &top1);
    SampleResult r{ids[t], static_cast<float>(-nll), {}};
    if (k > 0) {
      // Each alternative's log-probability differs from the target's by their logits' gap.
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                        [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
      for (size_t i = 0; i < k; ++i) {
        const double gap = static_cast<double>(row[order[i]]) - row[ids[t]];
        r.top.push_back({order[i], static_cast<float>(gap - nll)});
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hayate
