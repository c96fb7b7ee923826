// Decides what runs: each step, one Batch of decode tokens and prefill chunks from many
// sequences under a token budget, with KV blocks allocated as positions are needed (no
// worst-case reservation) and preemption by recomputation when they run out.
//
// Per step, in this order:
//   1. one decode token for every running sequence whose prompt is computed, oldest first;
//      when no KV block is left for one, the most recently arrived running sequence is
//      preempted (its blocks freed, back to the front of the waiting queue with n_computed = 0;
//      its generated ids stay and are recomputed with the prompt), possibly the one itself;
//   2. prefill chunks of running sequences whose prompt is not yet computed, oldest first,
//      each as large as the remaining budget and the obtainable blocks allow (chunked prefill:
//      a long prompt is spread over several steps and never stalls the decodes);
//   3. waiting sequences in arrival order (FCFS: the first that does not fit stops admission),
//      admitted while fewer than max_running run and the blocks of their next chunk can be had.
//      Admission first reuses the longest run of cached full blocks (PrefixCache), but never
//      the block holding the last known token: that token is always computed, for its logits,
//      and a shared block is never written. A prompt cached whole thus recomputes its last block.
// Only the last token of a chunk that completes a sequence's known ids wants logits.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/block_manager.h"
#include "engine/output.h"
#include "engine/prefix_cache.h"
#include "engine/request.h"
#include "engine/step_logits.h"
#include "model/batch.h"
#include "tokenizer/tokenizer.h"

namespace hayate {

enum class SeqStatus { Waiting, Running, Finished };

struct SequenceState {
  SequenceState(int64_t id, std::vector<int32_t> prompt, const GenerateOptions& options, const Tokenizer* tokenizer,
                int32_t n_ctx, std::vector<EmbeddingRows> images = {});

  int64_t id;
  std::vector<int32_t> tokens;  // the prompt followed by the generated ids
  int32_t n_prompt;
  int32_t n_computed = 0;  // leading tokens whose keys and values are in the KV cache
  std::vector<int32_t> block_table;
  SeqStatus status = SeqStatus::Waiting;
  uint64_t arrival = 0;
  OutputProcessor output;  // kept through preemption: generated ids are never sampled again
  PrefixChain chain;
  int32_t n_cached = 0;
  bool admitted_before = false;
  std::vector<EmbeddingRows> images;  // fed in place of placeholder tokens (Request::images)
  // With images: `tokens` with each image position replaced by a negative id drawn from the
  // image's content hash, so the prefix cache keys (and compares) image blocks by their pixels.
  std::vector<int32_t> key_ids;

  std::span<const int32_t> cache_key() const { return images.empty() ? std::span(tokens) : std::span(key_ids); }
  void append(int32_t id) {
    tokens.push_back(id);
    if (!images.empty()) key_ids.push_back(id);
  }

  std::span<const int32_t> prompt() const { return std::span(tokens).first(static_cast<size_t>(n_prompt)); }
  std::span<const int32_t> generated() const { return std::span(tokens).subspan(static_cast<size_t>(n_prompt)); }
  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t n_generated() const { return n_tokens() - n_prompt; }
  // The prompt is computed and only the last sampled id waits to be fed.
  bool decoding() const { return n_generated() > 0 && n_computed + 1 == n_tokens(); }
};

struct SchedulerConfig {
  int32_t max_batch_tokens = 512;
  int32_t max_running = 16;
  int32_t n_ctx = 2048;  // most positions of one sequence
};

// One chunk of one sequence in a step's batch.
struct ScheduledChunk {
  SequenceState* seq;
  int32_t n_tokens;
  int32_t logits_row;  // row of the forward's output, or -1 when the chunk wants no logits
};

struct Step {
  Batch batch;
  std::vector<ScheduledChunk> chunks;
  int32_t n_decode = 0;  // chunks that are decode tokens
  int32_t n_logit_rows = 0;
};

// What one sequence produced in a step (a token, the end, or both).
struct StepOutput {
  int64_t seq_id = -1;
  bool has_token = false;
  int32_t token = -1;
  SampleResult sample{};
  std::string text;  // text that is safe to show now (may be empty)
  bool finished = false;
  FinishReason finish_reason = FinishReason::Stop;  // when finished
  ErrorKind error_kind = ErrorKind::Internal;       // for FinishReason::Error
  std::string error;                                // for FinishReason::Error
  Usage usage;                                      // when finished
};

class Scheduler {
 public:
  // The tokenizer (may be null) gives end-of-generation ids and streamed text.
  Scheduler(BlockManager& blocks, PrefixCache& cache, int32_t block_size, const SchedulerConfig& config,
            const Tokenizer* tokenizer);
  ~Scheduler();

  // Queues a sequence. Error(BadInput) for an empty prompt, one over n_ctx, bad options or
  // max_tokens < 1 (validate_prompt, validate_options).
  // images: fed at their positions instead of the placeholder tokens (validate_images; n_embd is
  // not known here, so the caller has checked their width).
  void add(int64_t id, std::vector<int32_t> prompt, const GenerateOptions& options,
           std::vector<EmbeddingRows> images = {});
  // Ends a sequence now, freeing its blocks (the cache keeps its own references). Null when the
  // id is unknown. Not between schedule() and on_logits().
  std::optional<StepOutput> abort(int64_t id, FinishReason reason, ErrorKind error_kind = ErrorKind::Internal,
                                  const std::string& error = "");

  // The next batch; empty only when there is nothing to run.
  Step schedule();
  // Commits the step's keys and values (n_computed, prefix cache), runs each logits row through
  // its sequence's OutputProcessor, appends the ids and finishes the sequences it ends (or whose
  // processor throws: FinishReason::Error). `logits` is the forward's output.
  std::vector<StepOutput> on_logits(const Step& step, std::span<const float> logits, int32_t n_vocab);
  // The same with rows as StepLogits gives them (whole or top tokens, as needs() asked).
  std::vector<StepOutput> on_logits(const Step& step, const StepLogits& logits);
  // What each logits row of the step needs of it (OutputProcessor::need), in row order.
  std::vector<RowNeed> needs(const Step& step, int32_t max_top_logits) const;

  bool idle() const { return running_.empty() && waiting_.empty(); }
  int32_t n_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t n_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  std::vector<int64_t> sequence_ids() const;
  const SequenceState* find(int64_t id) const;
  int64_t n_preemptions() const { return n_preemptions_; }
  int64_t n_generated() const { return n_generated_; }

 private:
  // Appends blocks until the sequence has room for n_positions; false when none is left.
  bool grow(SequenceState& s, int32_t n_positions);
  void add_chunk(Step& step, SequenceState& s, int32_t n_tokens);
  void release_blocks(SequenceState& s);
  void preempt_last_running();
  bool admit_next(Step& step, int32_t budget);
  void schedule_once(Step& step);
  void finish(SequenceState& s, StepOutput& out, FinishReason reason);

  BlockManager& blocks_;
  PrefixCache& cache_;
  int32_t block_size_;
  SchedulerConfig config_;
  const Tokenizer* tokenizer_;
  std::vector<std::unique_ptr<SequenceState>> running_;  // by arrival
  std::deque<std::unique_ptr<SequenceState>> waiting_;   // by arrival (preempted ones first)
  uint64_t next_arrival_ = 0;
  int64_t n_preemptions_ = 0;
  int64_t n_generated_ = 0;
};

}  // namespace hayate
