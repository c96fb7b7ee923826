#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <utility>

#include "core/clock.h"
#include "core/error.h"
#include "core/profile.h"
#include "engine/encoder_requests.h"
#include "engine/logprobs.h"
#include "forward/forward.h"

namespace hayate {
namespace {

EngineConfig resolve(EngineConfig c, const Model& model) {
  const int32_t trained = model.hp.n_ctx_train;
  if (c.n_ctx == 0) c.n_ctx = std::min(trained, 4096);
  if (c.n_ctx <= 0 || c.n_ctx > trained)
    fail(ErrorKind::BadInput, "engine: context size " + std::to_string(c.n_ctx) + " must be in [1, " +
                                  std::to_string(trained) + "], the model's trained context");
  if (c.block_size <= 0) fail(ErrorKind::BadInput, "engine: the KV block size must be positive");
  const int32_t ctx_blocks = (c.n_ctx + c.block_size - 1) / c.block_size;
  if (c.kv_blocks == 0) c.kv_blocks = 2 * ctx_blocks;
  if (c.kv_blocks < ctx_blocks)
    fail(ErrorKind::BadInput, "engine: " + std::to_string(c.kv_blocks) + " KV blocks of " +
                                  std::to_string(c.block_size) + " positions cannot hold one context of " +
                                  std::to_string(c.n_ctx) + "; give at least " + std::to_string(ctx_blocks));
  if (c.max_waiting < 0) fail(ErrorKind::BadInput, "engine: max waiting requests must not be negative");
  if (!(c.stall_seconds > 0))
    fail(ErrorKind::BadInput, "engine: the stall threshold must be a positive number of seconds");
  return c;
}

}  // namespace

Engine::Engine(const Model& model, std::unique_ptr<Backend> backend, const Tokenizer* tokenizer,
               const EngineConfig& config)
    : model_(model),
      backend_(std::move(backend)),
      tokenizer_(tokenizer),
      config_(resolve(config, model)),
      kv_(backend_->make_kv_cache(model.hp, config_.kv_blocks, config_.block_size)),
      blocks_(config_.kv_blocks),
      cache_(blocks_, config_.block_size, config_.prefix_caching),
      scheduler_(blocks_, cache_, config_.block_size,
                 SchedulerConfig{config_.max_batch_tokens, config_.max_running, config_.n_ctx}, tokenizer) {
  publish_stats(0, 0);
  beat();
  loop_running_ = true;
  thread_ = std::thread([this] { loop(); });
  watchdog_ = std::thread([this] { watchdog(); });
}

Engine::~Engine() { shutdown(false); }

// Looks a few times per stall threshold; acts once per stall (a heartbeat it has not acted on).
void Engine::watchdog() {
  const auto tick = std::chrono::duration<double>(std::clamp(config_.stall_seconds / 4, 0.001, 1.0));
  int64_t acted_on = -1;
  std::unique_lock lk(mu_);
  while (!watchdog_wake_.wait_for(lk, tick, [&] { return watchdog_stop_; })) {
    lk.unlock();
    const EngineHealth h = health();
    const int64_t beat = heartbeat_ns_.load();
    if (h.stuck && beat != acted_on) {
      acted_on = beat;
      ++stalls_;
      end_stalled(h.problem);
    }
    lk.lock();
  }
}

void Engine::end_stalled(const std::string& why) {
  std::vector<std::weak_ptr<RequestHandle>> handles;
  {
    std::lock_guard lk(mu_);
    handles = accepted_;
  }
  const std::string message = "the engine is not healthy: " + why + "; the request was ended";
  for (const auto& weak : handles)
    if (const auto h = weak.lock(); h && !h->finished()) {
      h->push(error_event(ErrorKind::EngineUnhealthy, message));
      h->cancel();  // so the loop drops it when (if) the step ends
    }
}

std::shared_ptr<RequestHandle> Engine::submit(Request request) {
  validate(request, {config_.n_ctx, model_.hp.n_vocab, model_.hp.n_embd});
  check_request_kind(model_, request);
  if (const EngineHealth h = health(); h.stuck)
    fail(ErrorKind::EngineUnhealthy, "the engine is not healthy: " + h.problem + "; retry later or on another server");
  std::unique_lock lk(mu_);
  auto handle = enqueue(std::move(request));
  lk.unlock();
  wake_.notify_one();
  return handle;
}

std::vector<Engine::Submitted> Engine::submit_together(std::vector<Request> requests) {
  std::vector<Submitted> out(requests.size());
  if (const EngineHealth h = health(); h.stuck) {  // as submit() refuses: every one of them
    std::exception_ptr refused;
    try {
      fail(ErrorKind::EngineUnhealthy,
           "the engine is not healthy: " + h.problem + "; retry later or on another server");
    } catch (...) {
      refused = std::current_exception();
    }
    for (Submitted& s : out) s.error = refused;
    return out;
  }
  for (size_t i = 0; i < requests.size(); ++i) try {
      validate(requests[i], {config_.n_ctx, model_.hp.n_vocab, model_.hp.n_embd});
      check_request_kind(model_, requests[i]);
    } catch (...) {
      out[i].error = std::current_exception();
    }
  {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < requests.size(); ++i) try {
        if (!out[i].error) out[i].handle = enqueue(std::move(requests[i]));
      } catch (...) {
        out[i].error = std::current_exception();
      }
  }
  wake_.notify_one();
  return out;
}

std::shared_ptr<RequestHandle> Engine::enqueue(Request request) {
  if (!loop_error_.empty()) fail(ErrorKind::Internal, "the engine stopped after an internal error: " + loop_error_);
  if (!accepting_) fail(ErrorKind::Unavailable, "the engine is shutting down and takes no new requests");
  if (request.kind == RequestKind::Generate && request.options.max_tokens == 0 &&
      !request.prompt_logprobs) {  // nothing to queue
    const auto handle = std::make_shared<RequestHandle>(next_id_++);
    Event done;
    done.kind = Event::Done;
    done.finish_reason = FinishReason::Length;
    done.usage.prompt_tokens = static_cast<int32_t>(request.prompt.size());
    handle->push(std::move(done));
    return handle;
  }
  if (static_cast<int64_t>(incoming_.size()) + n_waiting_ >= config_.max_waiting)
    fail(ErrorKind::Busy,
         "queue full: " + std::to_string(config_.max_waiting) + " requests are already waiting; retry later");
  const auto handle = std::make_shared<RequestHandle>(next_id_++, cancels_);
  incoming_.push_back(Incoming{handle->id(), std::move(request), handle});
  if (accepted_.size() >= prune_at_) {
    std::erase_if(accepted_, [](const std::weak_ptr<RequestHandle>& w) {
      const auto h = w.lock();
      return !h || h->finished();
    });
    prune_at_ = std::max<size_t>(64, 2 * accepted_.size());
  }
  accepted_.push_back(handle);
  return handle;
}

void Engine::shutdown(bool drain) {
  {
    std::lock_guard lk(mu_);
    accepting_ = false;
    draining_ = true;
    if (!drain) stop_now_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lk(mu_);
    watchdog_stop_ = true;
  }
  watchdog_wake_.notify_one();
  if (watchdog_.joinable()) watchdog_.join();
}

// One prompt of the whole context, or one step's group of inputs (run_embeddings: max_batch_tokens
// tokens, each input wasting at most part of a block; 64 inputs allowed for), whichever needs more.
int32_t Engine::embed_kv_blocks() const {
  const int32_t bs = config_.block_size;
  return std::max((config_.n_ctx + bs - 1) / bs, (config_.max_batch_tokens + bs - 1) / bs + 64);
}

KvCache& Engine::embed_kv() {
  if (!embed_kv_) embed_kv_ = backend_->make_kv_cache(model_.hp, embed_kv_blocks(), config_.block_size);
  return *embed_kv_;
}

namespace {

// The mean of a sequence's final hidden states, normalised to length 1.
std::vector<float> normalised(const std::vector<double>& sum) {
  double norm = 0;
  for (double v : sum) norm += v * v;
  norm = std::sqrt(norm);
  std::vector<float> out(sum.size());
  for (size_t d = 0; d < sum.size(); ++d) out[d] = norm > 0 ? static_cast<float>(sum[d] / norm) : 0.0f;
  return out;
}

}  // namespace

// Prompt logprobs come from a Session of the engine's own, through the same feed and
// log-softmax as `hayate eval`'s log-likelihoods; a request with max_tokens 0 ends here (Done,
// Length), the others go on to the scheduler.
void Engine::score_prompts(std::vector<Incoming>& fresh) {
  std::vector<Incoming> keep;
  keep.reserve(fresh.size());
  for (Incoming& in : fresh) {
    if (!in.request.prompt_logprobs) {
      keep.push_back(std::move(in));
      continue;
    }
    beat();
    const std::shared_ptr<RequestHandle> h = in.handle.lock();
    if (!h) continue;
    Event done;
    done.kind = Event::Done;
    done.finish_reason = h->cancelled() ? FinishReason::Cancelled : FinishReason::Length;
    done.usage.prompt_tokens = static_cast<int32_t>(in.request.prompt.size());
    if (h->cancelled()) {
      h->push(std::move(done));
      continue;
    }
    try {
      if (!score_session_)
        score_session_ = std::make_unique<Session>(model_, *backend_, config_.n_ctx);  // as SessionModel's
      score_session_->reset();
      const std::vector<float> logits = score_session_->feed(in.request.prompt, true);
      Event e;
      e.kind = Event::PromptLogprobs;
      e.prompt_logprobs =
          prompt_logprobs(logits, model_.hp.n_vocab, in.request.prompt, in.request.options.sampling.n_logprobs);
      score_session_->reset();
      h->push(std::move(e));
    } catch (const std::exception& ex) {
      h->push(error_event(kind_of(ex), ex.what()));
      continue;
    }
    if (in.request.options.max_tokens == 0)
      h->push(std::move(done));
    else
      keep.push_back(std::move(in));
  }
  fresh.swap(keep);
}

std::vector<float> Engine::embed(const std::vector<int32_t>& tokens) {
  const int32_t bs = config_.block_size;
  const int32_t n_blocks = (config_.n_ctx + bs - 1) / bs;
  KvCache& kv = embed_kv();
  BatchSequence seq;
  for (int32_t b = 0; b < n_blocks; ++b) seq.block_table.push_back(b);
  std::vector<double> sum(static_cast<size_t>(model_.hp.n_embd), 0.0);
  const size_t chunk = static_cast<size_t>(config_.max_batch_tokens);
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    Batch batch;
    batch.sequences.push_back(seq);
    const size_t end = std::min(tokens.size(), start + chunk);
    for (size_t i = start; i < end; ++i) batch.add(tokens[i], static_cast<int32_t>(i), 0, true);
    const std::vector<float> hidden = forward_hidden(model_, batch, kv, *backend_);
    for (size_t r = 0; r < end - start; ++r)
      for (size_t d = 0; d < sum.size(); ++d) sum[d] += hidden[r * sum.size() + d];
  }
  return normalised(sum);
}

// Inputs that fit one step together (run_embeddings groups them) as one batch of sequences, each
// in blocks of its own: a token's hidden state does not depend on the rest of its batch (the
// tiled kernels' batch invariance), so each vector is bit for bit the one embed() gives alone.
std::vector<std::vector<float>> Engine::embed_together(const std::vector<const std::vector<int32_t>*>& inputs) {
  const int32_t bs = config_.block_size;
  KvCache& kv = embed_kv();
  Batch batch;
  int32_t next_block = 0;
  for (size_t s = 0; s < inputs.size(); ++s) {
    const auto len = static_cast<int32_t>(inputs[s]->size());
    BatchSequence seq;
    for (int32_t b = 0; b < (len + bs - 1) / bs; ++b) seq.block_table.push_back(next_block++);
    batch.sequences.push_back(std::move(seq));
    for (int32_t i = 0; i < len; ++i) batch.add((*inputs[s])[static_cast<size_t>(i)], i, static_cast<int32_t>(s), true);
  }
  const std::vector<float> hidden = forward_hidden(model_, batch, kv, *backend_);
  const auto n_embd = static_cast<size_t>(model_.hp.n_embd);
  std::vector<std::vector<float>> out;
  size_t row = 0;
  for (const std::vector<int32_t>* input : inputs) {
    std::vector<double> sum(n_embd, 0.0);
    for (size_t r = 0; r < input->size(); ++r, ++row)
      for (size_t d = 0; d < n_embd; ++d) sum[d] += hidden[row * n_embd + d];
    out.push_back(normalised(sum));
  }
  return out;
}

// Each embedding answers with one Embedding event and Done, or with an Error event. Consecutive
// short inputs run together, up to max_running sequences and max_batch_tokens tokens in the
// embedding cache's blocks; an input longer than one step runs alone, in chunks.
void Engine::run_embeddings(std::vector<Incoming>& embeds) {
  const int32_t bs = config_.block_size;
  const int32_t cache_blocks = embed_kv_blocks();
  struct Live {
    std::shared_ptr<RequestHandle> handle;
    const std::vector<int32_t>* tokens;
    const Request* request;
  };
  std::vector<Live> group;
  int32_t group_tokens = 0, group_blocks = 0;
  auto done_event = [](const Live& in) {
    Event done;
    done.kind = Event::Done;
    done.usage.prompt_tokens = static_cast<int32_t>(in.tokens->size());
    return done;
  };
  auto run_group = [&] {
    if (group.empty()) return;
    beat();
    std::vector<const std::vector<int32_t>*> inputs;
    for (const Live& in : group) inputs.push_back(in.tokens);
    try {
      std::vector<std::vector<float>> vectors;
      if (model_.encoder) {
        std::vector<const Request*> requests;
        for (const Live& in : group) requests.push_back(in.request);
        vectors = run_encoder(*model_.encoder, requests, *backend_);
      } else if (group.size() == 1 && group_tokens > config_.max_batch_tokens)
        vectors.push_back(embed(*group[0].tokens));
      else
        vectors = embed_together(inputs);
      for (size_t i = 0; i < group.size(); ++i) {
        Event e;
        e.kind = Event::Embedding;
        e.embedding = std::move(vectors[i]);
        group[i].handle->push(std::move(e));
        group[i].handle->push(done_event(group[i]));
      }
    } catch (const std::exception& ex) {
      for (const Live& in : group) in.handle->push(error_event(kind_of(ex), ex.what()));
    }
    group.clear();
    group_tokens = group_blocks = 0;
  };
  for (Incoming& in : embeds) {
    const std::shared_ptr<RequestHandle> h = in.handle.lock();
    if (!h) continue;  // nobody wants it any more
    const Live live{h, &in.request.prompt, &in.request};
    if (h->cancelled()) {
      Event done = done_event(live);
      done.finish_reason = FinishReason::Cancelled;
      h->push(std::move(done));
      continue;
    }
    if (model_.encoder) {
      try {
        check_encoder_request(*model_.encoder, in.request);
      } catch (const std::exception& ex) {
        h->push(error_event(kind_of(ex), ex.what()));
        continue;
      }
    }
    const auto len = static_cast<int32_t>(in.request.prompt.size());
    const int32_t blocks = (len + bs - 1) / bs;
    if (!group.empty() && (group_tokens + len > config_.max_batch_tokens || group_blocks + blocks > cache_blocks ||
                           static_cast<int32_t>(group.size()) >= config_.max_running))
      run_group();
    group.push_back(live);
    group_tokens += len;
    group_blocks += blocks;
  }
  run_group();
}

EngineStats Engine::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

EngineHealth Engine::health() const {
  EngineHealth h;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  h.seconds_since_beat =
      std::chrono::duration<double>(std::chrono::steady_clock::duration(now - heartbeat_ns_.load())).count();
  std::string error;
  {
    std::lock_guard lk(mu_);
    error = loop_error_;
  }
  char age[64];
  std::snprintf(age, sizeof age, "%.1f s (stall threshold %g s)", h.seconds_since_beat, config_.stall_seconds);
  if (!error.empty())
    h.problem = "the engine loop stopped after an internal error: " + error;
  else if (!loop_running_)
    h.problem = "the engine has shut down";
  else if ((h.stuck = h.seconds_since_beat > config_.stall_seconds))
    h.problem = "the engine loop is stuck: no progress for " + std::string(age);
  h.ok = h.problem.empty();
  h.stalls = stalls_.load();
  return h;
}

void Engine::beat() {
  heartbeat_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void Engine::loop() {
  try {
    run_loop();
  } catch (const std::exception& e) {
    loop_died(e.what());
  } catch (...) {
    loop_died("an exception of unknown type");
  }
  loop_running_ = false;
}

void Engine::loop_died(const std::string& why) {
  // Nothing will run any more: refuse new work and end what was accepted, so no client waits on
  // a loop that is gone. (The state may be broken; ending requests is best effort.)
  std::vector<Incoming> queued;
  {
    std::lock_guard lk(mu_);
    loop_error_ = why;
    accepting_ = false;
    queued.swap(incoming_);
  }
  const std::string message = "the engine stopped after an internal error: " + why;
  for (Incoming& in : queued)
    if (auto h = in.handle.lock()) h->push(error_event(ErrorKind::Internal, message));
  try {
    end_all(ErrorKind::Internal, message);
  } catch (...) {
  }
  for (auto& [id, live] : live_)
    if (auto h = live.handle.lock()) h->push(error_event(ErrorKind::Internal, message));
  live_.clear();
}

void Engine::run_loop() {
  // While idle the loop still beats, a few times per stall threshold (at most every second).
  const auto idle_beat = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::clamp(config_.stall_seconds / 4, 0.001, 1.0)));
  for (;;) {
    beat();
    std::vector<Incoming> fresh;
    std::vector<int64_t> cancelled;
    bool draining, stop_now;
    {
      std::unique_lock lk(mu_);
      while (!wake_.wait_for(lk, idle_beat, [&] { return draining_ || !incoming_.empty() || !scheduler_.idle(); }))
        beat();
      fresh.swap(incoming_);
      n_waiting_ += static_cast<int32_t>(fresh.size());
      draining = draining_;
      stop_now = stop_now_;
      // Under the same lock as incoming_: a cancel posted by now is for a request that is
      // admitted already or in `fresh`, so none is read before its request is known.
      std::lock_guard inbox(cancels_->mu);
      cancelled.swap(cancels_->ids);
    }
    // Generations go to the scheduler; embeddings run here, between steps, in arrival order.
    const auto split = std::stable_partition(
        fresh.begin(), fresh.end(), [](const Incoming& in) { return in.request.kind == RequestKind::Generate; });
    std::vector<Incoming> embeds(std::make_move_iterator(split), std::make_move_iterator(fresh.end()));
    fresh.erase(split, fresh.end());
    if (!stop_now) score_prompts(fresh);
    admit(fresh);
    if (stop_now) {
      const std::string why = "the engine shut down before the request finished";
      for (Incoming& in : embeds)
        if (auto h = in.handle.lock()) h->push(error_event(ErrorKind::Unavailable, why));
      end_all(ErrorKind::Unavailable, why);
      publish_stats(0, 0);
      return;
    }
    run_embeddings(embeds);
    reap_cancelled(cancelled);
    if (scheduler_.idle()) {
      publish_stats(0, 0);
      if (draining) return;
      continue;
    }
    if (profile::enabled() && busy_steps_++ == 0) busy_since_ = std::chrono::steady_clock::now();
    try {
      step();
    } catch (const std::exception& e) {  // a bug: end what is running rather than the process
      end_all(ErrorKind::Internal, std::string("internal error in the engine: ") + e.what());
    }
    if (busy_steps_ > 0 && scheduler_.idle()) {  // HAYATE_PROFILE: one table per burst of work
      profile::print_and_reset("engine busy period: " + std::to_string(busy_steps_) + " steps in " +
                               std::to_string(seconds_since(busy_since_)) + " s");
      busy_steps_ = 0;
    }
  }
}

void Engine::admit(std::vector<Incoming>& fresh) {
  for (Incoming& in : fresh) {
    try {
      scheduler_.add(in.id, std::move(in.request.prompt), in.request.options, std::move(in.request.images));
      live_[in.id] = Live{in.handle, in.request.logprobs};
    } catch (const std::exception& e) {  // submit validated it, so this is unexpected
      if (auto h = in.handle.lock()) h->push(error_event(kind_of(e), e.what()));
    }
  }
}

void Engine::reap_cancelled(const std::vector<int64_t>& gone) {
  if (gone.empty()) return;
  std::vector<StepOutput> outs;
  for (int64_t id : gone)
    if (auto out = scheduler_.abort(id, FinishReason::Cancelled)) outs.push_back(std::move(*out));
  if (!outs.empty()) deliver(outs, 0, 0);
}

void Engine::end_all(ErrorKind kind, const std::string& why) {
  std::vector<StepOutput> outs;
  for (int64_t id : scheduler_.sequence_ids())
    if (auto out = scheduler_.abort(id, FinishReason::Error, kind, why)) outs.push_back(std::move(*out));
  deliver(outs, 0, 0);
}

void Engine::step() {
  profile::Timer whole("engine step");
  profile::Timer scheduling("engine schedule");
  Step s = scheduler_.schedule();
  scheduling.stop();
  if (s.chunks.empty())  // rather than spin: the config checks make this unreachable
    fail(ErrorKind::Internal, "the scheduler has queued requests but could schedule none of them");
  if (config_.before_forward) config_.before_forward();
  profile::add("engine step tokens (count)", 0, static_cast<int64_t>(s.batch.size()));
  try {
    profile::Timer t("engine forward (enqueue)");
    const Tensor logits = forward_logits(model_, s.batch, *kv_, *backend_);
    t.stop();
    step_logits_.fetch(*backend_, logits, scheduler_.needs(s, backend_->max_top_logits()));
  } catch (const std::exception& e) {
    // The step's keys and values are unusable; end its sequences rather than retry forever.
    const std::string why = std::string("the forward pass failed: ") + e.what();
    std::vector<int64_t> ids;
    for (const ScheduledChunk& c : s.chunks) ids.push_back(c.seq->id);
    std::vector<StepOutput> outs;
    for (int64_t id : ids)
      if (auto out = scheduler_.abort(id, FinishReason::Error, kind_of(e), why)) outs.push_back(std::move(*out));
    deliver(outs, static_cast<int32_t>(s.batch.size()), static_cast<int32_t>(s.chunks.size()));
    return;
  }
  profile::Timer sampling("engine output processors");
  std::vector<StepOutput> outs = scheduler_.on_logits(s, step_logits_);
  sampling.stop();
  profile::Timer delivering("engine deliver");
  deliver(outs, static_cast<int32_t>(s.batch.size()), static_cast<int32_t>(s.chunks.size()));
}

void Engine::deliver(const std::vector<StepOutput>& outs, int32_t batch_tokens, int32_t batch_sequences) {
  // The heartbeat and stats first, so that a client who sees an event also sees the step that
  // produced it (and an engine that is not stuck).
  beat();
  for (const StepOutput& out : outs) {
    if (!out.finished) continue;
    ++n_finished_;
    ++n_by_reason_[static_cast<int>(out.finish_reason)];
  }
  publish_stats(batch_tokens, batch_sequences);
  for (const StepOutput& out : outs) push_events(out);
}

void Engine::push_events(const StepOutput& out) {
  auto it = live_.find(out.seq_id);
  if (it == live_.end()) return;
  if (auto h = it->second.handle.lock()) {
    if (out.has_token) {
      Event e;
      e.token = out.token;
      e.text = out.text;
      e.sample = out.sample;
      if (!it->second.logprobs) e.sample.top.clear();
      h->push(std::move(e));
    }
    if (out.finished) {
      Event e;
      if (out.finish_reason == FinishReason::Error) {
        e = error_event(out.error_kind, out.error);
      } else {
        e.kind = Event::Done;
        e.finish_reason = out.finish_reason;
      }
      e.usage = out.usage;
      h->push(std::move(e));
    }
  }
  if (out.finished) live_.erase(it);
}

void Engine::publish_stats(int32_t batch_tokens, int32_t batch_sequences) {
  std::lock_guard lk(mu_);
  EngineStats& st = stats_;
  n_waiting_ = scheduler_.n_waiting();
  st.running = scheduler_.n_running();
  st.waiting = n_waiting_ + static_cast<int32_t>(incoming_.size());
  st.kv_blocks_total = blocks_.n_blocks();
  st.kv_blocks_free = blocks_.n_free();
  st.kv_blocks_used = st.kv_blocks_total - st.kv_blocks_free;
  st.kv_blocks_cached = cache_.size();
  st.kv_blocks_active = blocks_.n_active();
  const PrefixCacheCounters& pc = cache_.counters();
  st.prefix_lookups = pc.lookups;
  st.prefix_hit_tokens = pc.hit_tokens;
  st.prefix_miss_tokens = pc.miss_tokens;
  st.prefix_evictions = pc.evictions;
  st.tokens_generated = scheduler_.n_generated();
  st.preemptions = scheduler_.n_preemptions();
  st.requests_finished = n_finished_;
  st.finished_stop = n_by_reason_[static_cast<int>(FinishReason::Stop)];
  st.finished_length = n_by_reason_[static_cast<int>(FinishReason::Length)];
  st.finished_cancelled = n_by_reason_[static_cast<int>(FinishReason::Cancelled)];
  st.finished_error = n_by_reason_[static_cast<int>(FinishReason::Error)];
  if (batch_tokens > 0) {
    ++st.steps;
    st.batch_tokens += batch_tokens;
    st.last_batch_tokens = batch_tokens;
    st.last_batch_sequences = batch_sequences;
    st.max_batch_tokens = std::max(st.max_batch_tokens, batch_tokens);
    st.max_batch_sequences = std::max(st.max_batch_sequences, batch_sequences);
  }
}

}  // namespace hayate
