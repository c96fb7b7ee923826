#include "engine/output.h"

#include <utility>

#include "core/error.h"

namespace hayate {

static_assert(static_cast<int>(FinishReason::Error) + 1 == kFinishReasons, "kFinishReasons counts FinishReason");

const char* to_string(FinishReason reason) {
  static constexpr const char* kNames[kFinishReasons] = {"stop", "length", "cancelled", "error"};
  const auto i = static_cast<size_t>(reason);
  return i < static_cast<size_t>(kFinishReasons) ? kNames[i] : "error";
}

OutputProcessor::OutputProcessor(const GenerateOptions& options, const Tokenizer* tokenizer, int32_t n_ctx)
    : max_tokens_(options.max_tokens),
      ignore_eos_(options.ignore_eos),
      n_ctx_(n_ctx),
      tokenizer_(tokenizer),
      sampler_(options.sampling),
      stops_(options.stop) {
  if (tokenizer) decoder_ = std::make_unique<StreamDecoder>(*tokenizer);
  if (options.constraint) constraint_ = options.constraint();
}

void OutputProcessor::flush(std::string& text) {
  if (!decoder_) return;
  StopMatcher::Result m = stops_.push(decoder_->flush());
  text += m.emit;
  if (!m.stopped) text += stops_.flush();
}

TokenOutput OutputProcessor::next(std::span<const float> logits, std::span<const int32_t> prompt,
                                  std::span<const int32_t> generated, int32_t n_past) {
  TokenOutput out;
  const auto n_vocab = static_cast<int32_t>(logits.size());
  if (constraint_) {
    masked_.assign(logits.begin(), logits.end());
    constraint_->mask(masked_);
    logits = masked_;
  }
  out.sample = sampler_.sample(logits.data(), n_vocab, prompt, generated);
  return finish_token(std::move(out), generated, n_past);
}

TokenOutput OutputProcessor::next(const LogitsRow& row, std::span<const int32_t> prompt,
                                  std::span<const int32_t> generated, int32_t n_past) {
  if (!row.top) return next(row.full, prompt, generated, n_past);
  if (constraint_) fail(ErrorKind::Internal, "output: a constrained sequence was given only its top logits");
  TokenOutput out;
  out.sample = sampler_.sample_top(*row.top);
  return finish_token(std::move(out), generated, n_past);
}

RowNeed OutputProcessor::need(int32_t max_k) const {
  if (constraint_ || max_k <= 0) return {};
  const int32_t k = sampler_.top_candidates(max_k);
  if (k == 0) return {};
  // With top-k on, the sampler keeps the top_k largest only when more than top_k are finite.
  const SamplingParams& p = sampler_.params();
  return RowNeed{k, p.temperature == 0 ? 1 : p.top_k + 1};
}

TokenOutput OutputProcessor::finish_token(TokenOutput out, std::span<const int32_t> generated, int32_t n_past) {
  const int32_t id = out.sample.id;
  const bool constraint_done = constraint_ && constraint_->accept(id);

  if (tokenizer_ && !ignore_eos_ && tokenizer_->is_end_of_generation(id)) {
    out.finish = FinishReason::Stop;
  } else if (decoder_) {
    StopMatcher::Result m = stops_.push(decoder_->push(id));
    out.text = std::move(m.emit);
    if (m.stopped) {
      out.finish = FinishReason::Stop;
      return out;  // what was held back is the stop string's beginning: never shown
    }
  }
  if (!out.finish && constraint_done) out.finish = FinishReason::Stop;
  // The id would be fed at position n_past, which must lie inside the context.
  const auto n_generated = static_cast<int32_t>(generated.size()) + 1;
  if (!out.finish && (n_generated >= max_tokens_ || n_past >= n_ctx_)) out.finish = FinishReason::Length;
  if (out.finish) flush(out.text);
  return out;
}

}  // namespace hayate
