// What becomes of a sequence's logits after each forward step: the one place where a row turns
// into a token, text safe to show and perhaps the end of the sequence. The serving engine
// (Scheduler::on_logits, one processor per sequence) and Session::generate (run, chat, eval) both
// use it, so a token means the same thing on every path.
//
// Per row, in this order:
//   1. a constraint (if the request has one) masks a copy of the row;
//   2. the sampler picks an id (sampler.h);
//   3. the constraint is told the id, and may end the sequence (after its text);
//   4. an end-of-generation id ends it at once, without text (unless ignore_eos);
//   5. the id is detokenised (whole UTF-8 characters only) and the text passes the stop strings
//      (a stop string ends the sequence and is never shown, not even in part);
//   6. max_tokens, or a context with no position left for the id, ends it ("length");
//   7. a sequence that ends other than at a stop string gives back the text held until then.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace hayate {

enum class FinishReason { Stop, Length, Cancelled, Error };
inline constexpr int kFinishReasons = 4;
// The wire's names: "stop", "length", "cancelled", "error".
const char* to_string(FinishReason reason);

// Structured output (a JSON schema, a grammar, tool calls) as a hook on one sequence's output.
// One object per sequence: it may keep state from token to token.
class Constraint {
 public:
  virtual ~Constraint() = default;
  // Before each sample: lower the logits of the ids not allowed next (to -inf to forbid them).
  // The row is the processor's copy; the model's output is not changed.
  virtual void mask(std::span<float> logits) = 0;
  // After each sample, the chosen id. True ends the sequence (finish reason Stop) once the id's
  // text is out.
  virtual bool accept(int32_t id) = 0;
};

struct GenerateOptions {
  int32_t max_tokens = 128;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  // Makes each sequence's constraint (a request with n choices makes n); empty: none.
  std::function<std::unique_ptr<Constraint>()> constraint;
};

// One row of logits as the processor gets it: the whole row on the host, or only its most likely
// tokens (TopLogits), computed by a device backend where the logits are.
struct LogitsRow {
  std::span<const float> full;
  const TopLogits* top = nullptr;
};

// What the processor needs of its next row: k most likely tokens (top_logits), used only when
// the row holds at least min_finite finite logits and is ok; k == 0: the whole row.
struct RowNeed {
  int32_t k = 0;
  int32_t min_finite = 0;
};

// What one row produced.
struct TokenOutput {
  SampleResult sample{};
  std::string text;                    // safe to show now (may be empty)
  std::optional<FinishReason> finish;  // Stop or Length when the sequence ends with this id
};

class OutputProcessor {
 public:
  // tokenizer may be null: then no id ends generation and there is no text, so no stop string.
  // n_ctx: the most positions the sequence may hold.
  OutputProcessor(const GenerateOptions& options, const Tokenizer* tokenizer, int32_t n_ctx);

  // logits: the row of the sequence's last position; prompt and generated: its ids so far (the
  // sampler's penalties read them); n_past: the positions it holds, where the new id would go.
  // The caller appends the id. Throws what the sampler or the constraint throws.
  TokenOutput next(std::span<const float> logits, std::span<const int32_t> prompt, std::span<const int32_t> generated,
                   int32_t n_past);
  // The same from a LogitsRow: a TopLogits row only as need() asked for it.
  TokenOutput next(const LogitsRow& row, std::span<const int32_t> prompt, std::span<const int32_t> generated,
                   int32_t n_past);
  // What next() needs of the row, when a backend offers top logits up to max_k (0: none). A
  // constraint masks the whole row, so it always needs the row.
  RowNeed need(int32_t max_k) const;

 private:
  void flush(std::string& text);
  // Steps 3 to 7, after the sampler picked.
  TokenOutput finish_token(TokenOutput out, std::span<const int32_t> generated, int32_t n_past);

  int32_t max_tokens_;
  bool ignore_eos_;
  int32_t n_ctx_;
  const Tokenizer* tokenizer_;
  Sampler sampler_;
  StopMatcher stops_;
  std::unique_ptr<StreamDecoder> decoder_;  // null without a tokenizer
  std::unique_ptr<Constraint> constraint_;
  std::vector<float> masked_;  // the constraint's copy of the row
};

}  // namespace hayate
