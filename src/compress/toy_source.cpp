#include "compress/toy_source.h"

#include "core/error.h"

namespace hayate::compress {

ToySource::ToySource(int32_t n_vocab, int32_t n_ctx, int32_t max_sequences, bool batch_invariant, uint32_t model_id)
    : n_vocab_(n_vocab),
      n_ctx_(n_ctx),
      invariant_(batch_invariant),
      model_id_(model_id),
      state_(static_cast<size_t>(max_sequences)) {}

void ToySource::reset(int32_t seq) { state_.at(static_cast<size_t>(seq)) = {}; }

std::vector<float> ToySource::step(std::span<const FeedPart> parts) {
  ++steps_;
  std::vector<float> rows;
  for (const FeedPart& p : parts) {
    State& s = state_.at(static_cast<size_t>(p.seq));
    for (size_t t = 0; t < p.tokens.size(); ++t) {
      if (p.tokens[t] < 0 || p.tokens[t] >= n_vocab_) fail(ErrorKind::Internal, "toy source: token out of range");
      if (s.position >= n_ctx_) fail(ErrorKind::Internal, "toy source: past the context");
      s.last = p.tokens[t];
      ++s.position;
      if (!p.all_logits && t + 1 < p.tokens.size()) continue;
      for (int32_t v = 0; v < n_vocab_; ++v) {
        const uint32_t mix = static_cast<uint32_t>(s.last * 31 + v * 17 + s.position) % 97u;
        rows.push_back(v == (s.last + 1) % n_vocab_ ? 6.0f : static_cast<float>(mix) / 25.0f);
      }
    }
  }
  return rows;
}

}  // namespace hayate::compress
