#include "engine/session.h"

#include <algorithm>
#include <chrono>

#include "core/clock.h"
#include "core/error.h"
#include "engine/request.h"
#include "engine/step_logits.h"
#include "forward/forward.h"

namespace hayate {

Session::Session(const Model& model, Backend& backend, int32_t n_ctx, int32_t block_size, int32_t n_batch)
    : model_(model),
      backend_(backend),
      n_ctx_(n_ctx),
      block_size_(block_size),
      n_batch_(n_batch),
      blocks_((n_ctx + block_size - 1) / block_size) {
  if (n_ctx <= 0) fail(ErrorKind::BadInput, "context size must be positive");
  if (n_ctx > model.hp.n_ctx_train)
    fail(ErrorKind::BadInput, "context size " + std::to_string(n_ctx) + " exceeds the model's trained context of " +
                                  std::to_string(model.hp.n_ctx_train) + " positions");
  kv_ = backend.make_kv_cache(model.hp, blocks_.n_blocks(), block_size);
}

void Session::ensure_blocks(int32_t n_positions) {
  if (n_positions > n_ctx_)
    fail(ErrorKind::BadInput, "the sequence would reach " + std::to_string(n_positions) +
                                  " tokens, over the context size of " + std::to_string(n_ctx_));
  while (static_cast<int32_t>(block_table_.size()) * block_size_ < n_positions) {
    const int32_t b = blocks_.allocate();
    if (b < 0) fail(ErrorKind::ResourceExhausted, "no free KV blocks");
    block_table_.push_back(b);
  }
}

std::vector<float> Session::feed(std::span<const int32_t> tokens, bool all_logits) {
  if (tokens.empty()) fail(ErrorKind::BadInput, "nothing to feed: the token list is empty");
  ensure_blocks(n_past() + static_cast<int32_t>(tokens.size()));
  std::vector<float> logits;
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(n_batch_)) {
    const size_t end = std::min(tokens.size(), start + static_cast<size_t>(n_batch_));
    Batch batch;
    batch.sequences.push_back(BatchSequence{block_table_});
    for (size_t i = start; i < end; ++i)
      batch.add(tokens[i], n_past() + static_cast<int32_t>(i - start), 0, all_logits || i + 1 == tokens.size());
    std::vector<float> out = forward(model_, batch, *kv_, backend_);
    history_.insert(history_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(start),
                    tokens.begin() + static_cast<std::ptrdiff_t>(end));
    logits.insert(logits.end(), out.begin(), out.end());
  }
  return logits;
}

GenerateResult Session::generate(std::span<const int32_t> prompt, const GenerateOptions& opt,
                                 const Tokenizer* tokenizer, const std::function<void(const std::string&)>& on_text) {
  validate_prompt(prompt, {n_ctx_, model_.hp.n_vocab});
  validate_options(opt);
  GenerateResult r;
  r.n_prompt = static_cast<int32_t>(prompt.size());

  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits = feed(prompt, false);
  r.prompt_seconds = seconds_since(t0);
  if (opt.max_tokens == 0) return r;

  OutputProcessor output(opt, tokenizer, n_ctx_);
  t0 = std::chrono::steady_clock::now();
  StepLogits rows;
  rows.assign(logits, model_.hp.n_vocab);
  for (;;) {
    TokenOutput out = output.next(rows.row(0), prompt, r.tokens, n_past());
    const int32_t id = out.sample.id;
    r.tokens.push_back(id);
    r.samples.push_back(std::move(out.sample));
    if (!out.text.empty()) {
      r.text += out.text;
      if (on_text) on_text(out.text);
    }
    if (out.finish) {
      r.finish_reason = *out.finish;
      break;
    }
    // One token: its logits stay where the backend computed them until the processor says
    // what it needs of them (only the top tokens, from a GPU).
    ensure_blocks(n_past() + 1);
    Batch batch;
    batch.sequences.push_back(BatchSequence{block_table_});
    batch.add(id, n_past(), 0, true);
    const Tensor dev = forward_logits(model_, batch, *kv_, backend_);
    history_.push_back(id);
    const RowNeed need = output.need(backend_.max_top_logits());
    rows.fetch(backend_, dev, std::span<const RowNeed>(&need, 1));
  }
  r.gen_seconds = seconds_since(t0);
  return r;
}

void Session::reset() {
  for (int32_t b : block_table_) blocks_.release(b);
  block_table_.clear();
  history_.clear();
}

}  // namespace hayate
