// One conversation with a model on one backend: a single sequence in the paged KV cache, fed
// through the batched forward pass. `hayate run`, `hayate chat`, `hayate eval` and the tests use
// it; the serving engine runs many sequences through the same forward and the same
// OutputProcessor (output.h).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/block_manager.h"
#include "engine/output.h"
#include "tokenizer/tokenizer.h"

namespace hayate {

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (a stop string's tokens included)
  std::vector<SampleResult> samples;
  std::string text;                                   // emitted text (stop string and what follows removed)
  FinishReason finish_reason = FinishReason::Length;  // Stop (end of generation, stop string, constraint)
  int32_t n_prompt = 0;
  double prompt_seconds = 0, gen_seconds = 0;
};

class Session {
 public:
  // n_ctx: the most positions this session may hold; the KV cache is sized for it.
  Session(const Model& model, Backend& backend, int32_t n_ctx, int32_t block_size = 16, int32_t n_batch = 256);

  // Appends tokens to the sequence and runs them through the model in chunks of n_batch.
  // Returns the logits of every token (all_logits) or of the last one only.
  std::vector<float> feed(std::span<const int32_t> tokens, bool all_logits);

  // Feeds the prompt, then feeds each id the OutputProcessor picks until it ends the sequence
  // (max_tokens, the context, an end-of-generation id, a stop string or the constraint).
  // on_text receives text as soon as it is safe to show (whole UTF-8, no stop prefix).
  // Error(BadInput) for a bad prompt or options (validate_prompt, validate_options).
  GenerateResult generate(std::span<const int32_t> prompt, const GenerateOptions& opt, const Tokenizer* tokenizer,
                          const std::function<void(const std::string&)>& on_text = {});

  void reset();  // forgets the sequence and frees its blocks
  int32_t n_past() const { return static_cast<int32_t>(history_.size()); }
  int32_t n_ctx() const { return n_ctx_; }
  const std::vector<int32_t>& history() const { return history_; }
  size_t kv_bytes() const { return kv_->bytes; }

 private:
  void ensure_blocks(int32_t n_positions);

  const Model& model_;
  Backend& backend_;
  int32_t n_ctx_, block_size_, n_batch_;
  std::unique_ptr<KvCache> kv_;
  BlockManager blocks_;
  std::vector<int32_t> block_table_;
  std::vector<int32_t> history_;
};

}  // namespace hayate
