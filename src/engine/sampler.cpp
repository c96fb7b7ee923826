#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace hayate {

namespace {

using Candidate = Sampler::Candidate;

// Higher weight first; equal weights by lower id, so every order below is deterministic.
bool before(const Candidate& a, const Candidate& b) {
  return a.weight > b.weight || (a.weight == b.weight && a.id < b.id);
}

// The pivot for quickselect: the median of three entries, by `before`.
Candidate median_of_three(const Candidate& a, const Candidate& b, const Candidate& c) {
  if (before(a, b)) return before(b, c) ? b : (before(a, c) ? c : a);
  return before(a, c) ? a : (before(b, c) ? c : b);
}

// Moves the smallest prefix (in `before` order) whose weight reaches `target` to the front of
// `c`, in no particular order, and returns its length (all of `c` when its weight falls short).
// A quickselect on weight instead of count, so even a nucleus of most of a 150k vocabulary
// costs a few linear passes, not a sort.
size_t nucleus_size(std::vector<Candidate>& c, double target) {
  size_t lo = 0;
  size_t hi = c.size();
  double ahead = 0;  // weight of c[0, lo), which all comes before c[lo, hi); stays below target
  // Median-of-three pivots have bad cases; after 64 rounds the rest is simply sorted.
  for (int round = 0; hi - lo > 16 && round < 64; ++round) {
    const Candidate pivot = median_of_three(c[lo], c[lo + (hi - lo) / 2], c[hi - 1]);
    // Both sides are non-empty: the best of the three goes left, the pivot right.
    const auto split =
        std::partition(c.begin() + lo, c.begin() + hi, [&](const Candidate& x) { return before(x, pivot); });
    const auto mid = static_cast<size_t>(split - c.begin());
    double left = 0;
    for (size_t i = lo; i < mid; ++i) left += c[i].weight;
    if (ahead + left >= target) {
      hi = mid;
    } else {
      ahead += left;
      lo = mid;
    }
  }
  std::sort(c.begin() + lo, c.begin() + hi, before);
  for (size_t i = lo; i < hi; ++i) {
    ahead += c[i].weight;
    if (ahead >= target) return i + 1;
  }
  return hi;
}

float largest(const std::vector<float>& v) {
  // Eight independent maxima let the compiler vectorise the loop.
  float lane[8];
  std::fill(std::begin(lane), std::end(lane), -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    for (size_t j = 0; j < 8; ++j) lane[j] = v[i + j] > lane[j] ? v[i + j] : lane[j];
  }
  for (; i < v.size(); ++i) lane[0] = v[i] > lane[0] ? v[i] : lane[0];
  return *std::max_element(std::begin(lane), std::end(lane));
}

[[noreturn]] void report_broken(const std::vector<float>& logits) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity())
      fail(ErrorKind::Internal, "sampling: the logit of token " + std::to_string(i) + " is " +
                                    std::to_string(logits[i]) + "; the model's output is broken");
  }
  fail(ErrorKind::Internal, "sampling: every token has logit -inf, there is nothing to choose from");
}

// The n largest logits, largest first, as log-probabilities; -inf logits are never reported.
std::vector<TokenLogprob> top_logprobs(const std::vector<float>& logits, size_t n, double log_norm) {
  std::vector<TokenLogprob> top;  // holds logits until the end
  top.reserve(n + 1);
  float bar = -std::numeric_limits<float>::infinity();  // to beat to get in
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    if (!(l > bar)) continue;
    const auto at = std::find_if(top.begin(), top.end(), [&](const TokenLogprob& t) { return l > t.logprob; });
    top.insert(at, TokenLogprob{static_cast<int32_t>(i), l});
    if (top.size() > n) top.pop_back();
    if (top.size() == n) bar = top.back().logprob;
  }
  for (auto& t : top) t.logprob = static_cast<float>(t.logprob - log_norm);
  return top;
}

}  // namespace

void apply_penalties(const SamplingParams& params, std::span<float> logits, std::span<const int32_t> prompt,
                     std::span<const int32_t> generated) {
  const auto vocab = static_cast<int64_t>(logits.size());
  auto sorted_ids = [&](std::vector<int32_t> ids) {
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab)
        fail(ErrorKind::BadInput, "sampling: token id " + std::to_string(id) + " is outside the vocabulary of " +
                                      std::to_string(vocab) + " tokens");
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };

  if (params.repeat_penalty != 1.0f && params.repeat_last_n != 0) {
    const size_t total = prompt.size() + generated.size();
    const size_t window = params.repeat_last_n < 0 ? total : std::min(total, size_t(params.repeat_last_n));
    std::vector<int32_t> recent;
    recent.reserve(window);
    const size_t first = total - window;  // index into prompt ++ generated
    for (size_t i = first; i < prompt.size(); ++i) recent.push_back(prompt[i]);
    for (size_t i = first > prompt.size() ? first - prompt.size() : 0; i < generated.size(); ++i)
      recent.push_back(generated[i]);
    recent = sorted_ids(std::move(recent));
    recent.erase(std::unique(recent.begin(), recent.end()), recent.end());
    for (int32_t id : recent) {
      float& l = logits[id];
      l = l > 0 ? l / params.repeat_penalty : l * params.repeat_penalty;
    }
  }

  if (params.frequency_penalty != 0 || params.presence_penalty != 0) {
    const auto ids = sorted_ids(std::vector<int32_t>(generated.begin(), generated.end()));
    for (size_t i = 0; i < ids.size();) {
      size_t j = i;
      while (j < ids.size() && ids[j] == ids[i]) ++j;
      logits[ids[i]] -= static_cast<float>(j - i) * params.frequency_penalty + params.presence_penalty;
      i = j;
    }
  }
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  params_.validate();
  uint64_t seed = params_.seed;
  if (seed == 0xffffffffffffffffull) {
    std::random_device os;
    seed = (uint64_t(os()) << 32) ^ os();
  }
  rng_.seed(seed);
}

double Sampler::uniform01() { return double(rng_() >> 11) * 0x1.0p-53; }

SampleResult Sampler::sample(const float* logits, int32_t n_vocab, std::span<const int32_t> prompt,
                             std::span<const int32_t> generated) {
  if (logits == nullptr || n_vocab <= 0)
    fail(ErrorKind::Internal, "sampling: no logits (n_vocab " + std::to_string(n_vocab) + ")");
  logits_.assign(logits, logits + n_vocab);
  apply_penalties(params_, logits_, prompt, generated);

  // The largest logit is the greedy pick and keeps exp() in range. NaN or +inf anywhere, or
  // nothing but -inf, makes the sum NaN, so one check after the loop covers them all.
  const float max = largest(logits_);
  double sum = 0;
  for (float l : logits_) sum += std::exp(l - max);
  if (!std::isfinite(sum)) report_broken(logits_);
  const double log_norm = max + std::log(sum);
  const auto best = static_cast<int32_t>(std::find(logits_.begin(), logits_.end(), max) - logits_.begin());

  SampleResult result;
  result.id = params_.temperature == 0 ? best : draw(max);
  result.logprob = static_cast<float>(logits_[result.id] - log_norm);
  if (params_.n_logprobs > 0) result.top = top_logprobs(logits_, size_t(params_.n_logprobs), log_norm);
  return result;
}

// Steps 3 to 7 of the pipeline on logits_, whose largest value is `max`.
int32_t Sampler::draw(double max) {
  auto& c = candidates_;
  c.clear();
  for (size_t i = 0; i < logits_.size(); ++i) {
    if (logits_[i] != -std::numeric_limits<float>::infinity()) c.push_back({logits_[i], static_cast<int32_t>(i)});
  }

  const auto k = static_cast<size_t>(std::max(params_.top_k, 0));
  if (k > 0 && k < c.size()) {
    // A heap of k is one comparison for most tokens when k is small; nth_element wins for large k.
    if (k <= 1024) {
      std::partial_sort(c.begin(), c.begin() + k, c.end(), before);
    } else {
      std::nth_element(c.begin(), c.begin() + k, c.end(), before);
    }
    c.resize(k);
  }
  return draw_candidates(max);
}

// Steps 4 to 7 on candidates_ (what top-k kept), whose largest logit is `max`.
int32_t Sampler::draw_candidates(double max) {
  auto& c = candidates_;
  // Unnormalised softmax: the most likely token weighs exactly 1.
  const double inv_temp = 1.0 / params_.temperature;
  double total = 0;
  for (auto& x : c) {
    x.weight = std::exp(static_cast<float>((x.weight - max) * inv_temp));
    total += x.weight;
  }

  if (params_.min_p > 0) {
    const float threshold = params_.min_p;
    c.erase(std::partition(c.begin(), c.end(), [&](const Candidate& x) { return x.weight >= threshold; }), c.end());
  }
  if (params_.top_p < 1) c.resize(nucleus_size(c, params_.top_p * total));

  double kept = 0;
  for (const auto& x : c) kept += x.weight;
  const double u = uniform01() * kept;
  double sum = 0;
  int32_t last = c.front().id;
  for (const auto& x : c) {
    if (x.weight <= 0) continue;
    sum += x.weight;
    last = x.id;
    if (u < sum) return x.id;
  }
  return last;  // rounding left u at the very top
}

int32_t Sampler::top_candidates(int32_t max_k) const {
  const bool penalties = (params_.repeat_penalty != 1.0f && params_.repeat_last_n != 0) ||
                         params_.frequency_penalty != 0 || params_.presence_penalty != 0;
  if (penalties) return 0;
  const int32_t k = std::max<int32_t>(params_.temperature == 0 ? 1 : params_.top_k, params_.n_logprobs);
  // Without top-k every token may be drawn: the whole row is needed.
  if (params_.temperature != 0 && params_.top_k <= 0) return 0;
  return k <= max_k ? k : 0;
}

SampleResult Sampler::sample_top(const TopLogits& top) {
  if (!top.ok || top.ids.empty() || top.ids.size() != top.logits.size())
    fail(ErrorKind::Internal, "sampling: the device's top logits are unusable (the caller must fetch the row)");
  // top.logits[0] is the row's largest logit and top.ids[0] its lowest id: sample()'s greedy pick.
  const float max = top.logits[0];
  SampleResult result;
  size_t at = 0;
  if (params_.temperature == 0) {
    result.id = top.ids[0];
  } else {
    // sample() keeps the top_k largest, sorted by before(): the first top_k entries here.
    const size_t k = std::min(top.ids.size(), static_cast<size_t>(params_.top_k));
    candidates_.clear();
    for (size_t i = 0; i < k; ++i) candidates_.push_back({top.logits[i], top.ids[i]});
    result.id = draw_candidates(max);
    while (top.ids[at] != result.id) ++at;
  }
  result.logprob = static_cast<float>(top.logits[at] - top.log_norm);
  const size_t n = std::min(top.ids.size(), static_cast<size_t>(std::max(params_.n_logprobs, 0)));
  for (size_t i = 0; i < n; ++i) result.top.push_back({top.ids[i], static_cast<float>(top.logits[i] - top.log_norm)});
  return result;
}

}  // namespace hayate
