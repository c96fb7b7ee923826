#include "engine/scheduler.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace hayate {

SequenceState::SequenceState(int64_t id_, std::vector<int32_t> prompt, const GenerateOptions& options,
                             const Tokenizer* tokenizer, int32_t n_ctx, std::vector<EmbeddingRows> images_)
    : id(id_),
      tokens(std::move(prompt)),
      n_prompt(static_cast<int32_t>(tokens.size())),
      output(options, tokenizer, n_ctx),
      images(std::move(images_)) {
  if (images.empty()) return;
  key_ids = tokens;
  for (const EmbeddingRows& im : images)
    for (int32_t i = 0; i < im.n_rows; ++i) {
      uint64_t h = (im.content_hash + static_cast<uint64_t>(i)) * 0x9e3779b97f4a7c15ull;
      h ^= h >> 29;
      key_ids[static_cast<size_t>(im.position + i)] = -1 - static_cast<int32_t>(h & 0x3fffffff);
    }
}

Scheduler::Scheduler(BlockManager& blocks, PrefixCache& cache, int32_t block_size, const SchedulerConfig& config,
                     const Tokenizer* tokenizer)
    : blocks_(blocks), cache_(cache), block_size_(block_size), config_(config), tokenizer_(tokenizer) {
  if (block_size <= 0) fail(ErrorKind::BadInput, "scheduler: the KV block size must be positive");
  if (config.max_batch_tokens <= 0) fail(ErrorKind::BadInput, "scheduler: max batch tokens must be positive");
  if (config.max_running <= 0) fail(ErrorKind::BadInput, "scheduler: max running sequences must be positive");
  if (config.n_ctx <= 0) fail(ErrorKind::BadInput, "scheduler: the context size must be positive");
}

Scheduler::~Scheduler() {
  for (auto& s : running_) release_blocks(*s);
}

void Scheduler::add(int64_t id, std::vector<int32_t> prompt, const GenerateOptions& options,
                    std::vector<EmbeddingRows> images) {
  validate_prompt(prompt, {config_.n_ctx});
  validate_options(options, 1);  // a sequence is scheduled to sample at least once
  if (!images.empty()) {
    const auto width = static_cast<int32_t>(images.front().data ? images.front().data->size() : 0) /
                       std::max(images.front().n_rows, 1);
    validate_images(images, static_cast<int32_t>(prompt.size()), width);
  }
  auto s =
      std::make_unique<SequenceState>(id, std::move(prompt), options, tokenizer_, config_.n_ctx, std::move(images));
  s->arrival = next_arrival_++;
  waiting_.push_back(std::move(s));
}

std::vector<int64_t> Scheduler::sequence_ids() const {
  std::vector<int64_t> ids;
  for (const auto& s : running_) ids.push_back(s->id);
  for (const auto& s : waiting_) ids.push_back(s->id);
  return ids;
}

const SequenceState* Scheduler::find(int64_t id) const {
  for (const auto& s : running_)
    if (s->id == id) return s.get();
  for (const auto& s : waiting_)
    if (s->id == id) return s.get();
  return nullptr;
}

bool Scheduler::grow(SequenceState& s, int32_t n_positions) {
  while (static_cast<int32_t>(s.block_table.size()) * block_size_ < n_positions) {
    const int32_t b = cache_.allocate_or_evict();
    if (b < 0) return false;
    s.block_table.push_back(b);
  }
  return true;
}

void Scheduler::release_blocks(SequenceState& s) {
  for (int32_t b : s.block_table) blocks_.release(b);
  s.block_table.clear();
  s.chain = PrefixChain{};
}

void Scheduler::preempt_last_running() {
  std::unique_ptr<SequenceState> s = std::move(running_.back());
  running_.pop_back();
  release_blocks(*s);  // its full blocks stay in the prefix cache, so recomputing may be cheap
  s->n_computed = 0;
  s->status = SeqStatus::Waiting;
  waiting_.push_front(std::move(s));
  ++n_preemptions_;
}

void Scheduler::add_chunk(Step& step, SequenceState& s, int32_t n_tokens) {
  const auto seq_index = static_cast<int32_t>(step.batch.sequences.size());
  step.batch.sequences.push_back(BatchSequence{s.block_table});
  const bool completes = s.n_computed + n_tokens == s.n_tokens();
  for (int32_t j = 0; j < n_tokens; ++j) {
    const int32_t pos = s.n_computed + j;
    step.batch.add(s.tokens[static_cast<size_t>(pos)], pos, seq_index, completes && j + 1 == n_tokens);
    for (const EmbeddingRows& im : s.images)
      if (pos >= im.position && pos < im.position + im.n_rows) {
        const size_t width = im.data->size() / static_cast<size_t>(im.n_rows);
        step.batch.embeddings.emplace_back(static_cast<int32_t>(step.batch.size() - 1),
                                           im.data->data() + static_cast<size_t>(pos - im.position) * width);
      }
  }
  step.chunks.push_back({&s, n_tokens, completes ? step.n_logit_rows++ : -1});
}

bool Scheduler::admit_next(Step& step, int32_t budget) {
  SequenceState& s = *waiting_.front();
  const int32_t n = s.n_tokens();
  // At least the last token is always computed, for its logits: a prompt that is cached whole
  // reuses every block but the one holding its last token, which it recomputes. Reusing that
  // block too would write into a block other sequences may share.
  PrefixCache::Match match = cache_.lookup(s.cache_key(), (n - 1) / block_size_);
  auto release_match = [&] {
    for (int32_t b : match.blocks) blocks_.release(b);
  };
  int32_t want = std::min(n - match.n_tokens, budget);
  const auto n_hit_blocks = static_cast<int32_t>(match.blocks.size());
  int32_t need = (match.n_tokens + want + block_size_ - 1) / block_size_ - n_hit_blocks;
  // Free blocks usually suffice; counting the evictable cached ones walks the whole cache.
  int32_t available = blocks_.n_free();
  if (need > available) available = cache_.n_available();
  if (need > available) {
    // Only a sequence that would run alone may start with less than its chunk, so that a
    // budget larger than the whole cache cannot keep it waiting forever.
    if (!running_.empty() || available == 0) {
      release_match();
      return false;
    }
    need = available;
    want = (n_hit_blocks + need) * block_size_ - match.n_tokens;
  }
  s.block_table = std::move(match.blocks);
  s.n_computed = match.n_tokens;
  s.chain = match.chain;
  for (int32_t i = 0; i < need; ++i) {
    const int32_t b = cache_.allocate_or_evict();
    if (b < 0) fail(ErrorKind::Internal, "scheduler: a KV block counted as available could not be allocated");
    s.block_table.push_back(b);
  }
  cache_.count_lookup(s.n_computed, n - s.n_computed);
  if (!s.admitted_before) s.n_cached = s.n_computed;
  s.admitted_before = true;
  s.status = SeqStatus::Running;

  std::unique_ptr<SequenceState> owned = std::move(waiting_.front());
  waiting_.pop_front();
  const auto at = std::upper_bound(running_.begin(), running_.end(), owned->arrival,
                                   [](uint64_t a, const auto& r) { return a < r->arrival; });
  SequenceState& admitted = **running_.insert(at, std::move(owned));
  add_chunk(step, admitted, want);
  return true;
}

void Scheduler::schedule_once(Step& step) {
  int32_t budget = config_.max_batch_tokens;
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    SequenceState& s = *running_[i];
    if (!s.decoding()) {
      ++i;
      continue;
    }
    if (!grow(s, s.n_computed + 1)) {
      // Every sequence after i is unscheduled, so the newest can go; when that is s itself,
      // the loop ends because running_ now has i entries.
      preempt_last_running();
      continue;
    }
    add_chunk(step, s, 1);
    ++step.n_decode;
    --budget;
    ++i;
  }
  for (auto& p : running_) {
    if (budget == 0) break;
    SequenceState& s = *p;
    if (s.decoding()) continue;
    const int32_t want = std::min(s.n_tokens() - s.n_computed, budget);
    grow(s, s.n_computed + want);  // a partial chunk is fine; the rest waits for blocks
    const int32_t room = static_cast<int32_t>(s.block_table.size()) * block_size_ - s.n_computed;
    const int32_t n = std::min(want, room);
    if (n <= 0) continue;
    add_chunk(step, s, n);
    budget -= n;
  }
  while (budget > 0 && static_cast<int32_t>(running_.size()) < config_.max_running && !waiting_.empty()) {
    if (!admit_next(step, budget)) break;
    budget -= step.chunks.back().n_tokens;
  }
}

Step Scheduler::schedule() {
  for (;;) {
    Step step;
    schedule_once(step);
    if (!step.chunks.empty() || running_.empty()) return step;
    // Every running sequence waits for blocks that only another running one could free.
    preempt_last_running();
  }
}

void Scheduler::finish(SequenceState& s, StepOutput& out, FinishReason reason) {
  release_blocks(s);
  s.status = SeqStatus::Finished;
  out.finished = true;
  out.finish_reason = reason;
  out.usage = Usage{s.n_prompt, s.n_generated(), s.n_cached};
}

std::optional<StepOutput> Scheduler::abort(int64_t id, FinishReason reason, ErrorKind error_kind,
                                           const std::string& error) {
  auto matches = [id](const auto& s) { return s->id == id; };
  std::unique_ptr<SequenceState> s;
  if (auto it = std::find_if(running_.begin(), running_.end(), matches); it != running_.end()) {
    s = std::move(*it);
    running_.erase(it);
  } else if (auto wt = std::find_if(waiting_.begin(), waiting_.end(), matches); wt != waiting_.end()) {
    s = std::move(*wt);
    waiting_.erase(wt);
  } else {
    return std::nullopt;
  }
  StepOutput out;
  out.seq_id = id;
  out.error_kind = error_kind;
  out.error = error;
  finish(*s, out, reason);
  return out;
}

std::vector<StepOutput> Scheduler::on_logits(const Step& step, std::span<const float> logits, int32_t n_vocab) {
  if (n_vocab <= 0 || logits.size() != static_cast<size_t>(step.n_logit_rows) * static_cast<size_t>(n_vocab))
    fail(ErrorKind::Internal, "scheduler: the forward returned " + std::to_string(logits.size()) + " logits for " +
                                  std::to_string(step.n_logit_rows) + " rows");
  StepLogits rows;
  rows.assign(logits, n_vocab);
  return on_logits(step, rows);
}

std::vector<RowNeed> Scheduler::needs(const Step& step, int32_t max_top_logits) const {
  std::vector<RowNeed> out(static_cast<size_t>(step.n_logit_rows));
  for (const ScheduledChunk& c : step.chunks)
    if (c.logits_row >= 0) out.at(static_cast<size_t>(c.logits_row)) = c.seq->output.need(max_top_logits);
  return out;
}

std::vector<StepOutput> Scheduler::on_logits(const Step& step, const StepLogits& logits) {
  if (logits.n_rows() != step.n_logit_rows)
    fail(ErrorKind::Internal, "scheduler: the forward returned " + std::to_string(logits.n_rows()) +
                                  " rows of logits for " + std::to_string(step.n_logit_rows));
  for (const ScheduledChunk& c : step.chunks) {
    SequenceState& s = *c.seq;
    s.n_computed += c.n_tokens;
    cache_.insert(s.cache_key(), s.block_table, s.n_computed / block_size_, s.chain);
  }
  std::vector<StepOutput> outs;
  for (const ScheduledChunk& c : step.chunks) {
    if (c.logits_row < 0) continue;
    SequenceState& s = *c.seq;
    StepOutput out;
    out.seq_id = s.id;
    try {
      TokenOutput t = s.output.next(logits.row(c.logits_row), s.prompt(), s.generated(), s.n_computed);
      s.append(t.sample.id);
      ++n_generated_;
      out.has_token = true;
      out.token = t.sample.id;
      out.sample = std::move(t.sample);
      out.text = std::move(t.text);
      if (t.finish) finish(s, out, *t.finish);
    } catch (const std::exception& e) {
      out.error_kind = kind_of(e);
      out.error = e.what();
      finish(s, out, FinishReason::Error);
    }
    outs.push_back(std::move(out));
  }
  std::erase_if(running_, [](const auto& s) { return s->status == SeqStatus::Finished; });
  return outs;
}

}  // namespace hayate
