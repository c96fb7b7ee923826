// The serving engine: one object owning the backend, the paged KV cache, the block manager, the
// prefix cache and the scheduler, running continuous batching on its own thread. Requests
// (generations and embeddings, request.h) come in through a thread-safe queue; each streams its
// events back through its own RequestHandle. The HTTP server, the CLI and the benchmarks are all
// clients of this API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "core/thread_pool.h"
#include "engine/block_manager.h"
#include "engine/prefix_cache.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "engine/session.h"

namespace hayate {

struct EngineConfig {
  int32_t n_ctx = 0;        // most positions of one sequence; 0: the model's trained context, at most 4096
  int32_t block_size = 16;  // positions per KV block
  int32_t kv_blocks = 0;    // KV cache size in blocks; 0: two full contexts. Must hold one context.
  int32_t max_batch_tokens = 512;
  int32_t max_running = 16;
  int32_t max_waiting = 256;  // more queued requests: submit throws Error(Busy, "queue full ...")
  bool prefix_caching = true;
  // health(): a loop that has not beaten its heartbeat for this long is stuck. It beats between
  // steps and while it waits for work, so this must exceed the longest step (a full prefill chunk
  // of the largest model on the slowest machine): generous by default. While it is stuck, submit
  // refuses new requests and a watchdog ends the accepted ones with an Error event of kind
  // EngineUnhealthy saying so (what they would produce once the step ended is thrown away: they are
  // cancelled).
  double stall_seconds = 60;
  // Tests: runs on the loop thread inside every step, just before the forward pass (it may sleep,
  // to make a slow or stuck step, or throw).
  std::function<void()> before_forward{};
};

struct EngineStats {
  int32_t running = 0, waiting = 0;
  int32_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_free = 0, kv_blocks_cached = 0;
  int32_t kv_blocks_active = 0;  // held by sequences (used blocks that only the prefix cache holds are not)
  int64_t prefix_lookups = 0, prefix_hit_tokens = 0, prefix_miss_tokens = 0, prefix_evictions = 0;
  int64_t steps = 0;
  int64_t batch_tokens = 0;  // summed over all steps
  int32_t last_batch_tokens = 0, last_batch_sequences = 0, max_batch_tokens = 0, max_batch_sequences = 0;
  int64_t tokens_generated = 0, preemptions = 0, requests_finished = 0;
  // requests_finished by reason (generations only)
  int64_t finished_stop = 0, finished_length = 0, finished_cancelled = 0, finished_error = 0;

  double mean_batch_tokens() const {
    return steps ? static_cast<double>(batch_tokens) / static_cast<double>(steps) : 0;
  }
};

struct EngineHealth {
  bool ok = false;
  std::string problem;            // why not ok: shut down, the loop died (and why), or stuck
  double seconds_since_beat = 0;  // the loop's last sign of life
  bool stuck = false;             // alive but past the stall threshold (problem says so)
  int64_t stalls = 0;             // stalls the watchdog has met since the start (it ended their requests)
};

class Engine {
 public:
  // The backend must be prepared for the model; the model (and tokenizer, which may be null)
  // must outlive the engine. Error(BadInput) for an inconsistent config.
  Engine(const Model& model, std::unique_ptr<Backend> backend, const Tokenizer* tokenizer,
         const EngineConfig& config = {});
  ~Engine();  // shutdown(false)
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Error(BadInput) for an empty prompt, a prompt over the context, ids outside
  // the vocabulary or bad options (validate); Error(Busy) when the queue is full;
  // Error(Unavailable) when the engine is shutting down; Error(EngineUnhealthy) while its loop is
  // stuck past stall_seconds; Error(Internal) after its loop died.
  // An embedding runs on the engine's thread between steps, in a KV area of its own.
  std::shared_ptr<RequestHandle> submit(Request request);
  // Queues several requests with one wake-up of the loop, so that they are admitted together:
  // their prompts are prefilled in the same step as far as max_batch_tokens allows, and
  // embeddings run as one batch of sequences. Each gets a handle, or the error submit would have
  // thrown for it (the others are queued all the same).
  struct Submitted {
    std::shared_ptr<RequestHandle> handle;  // null when refused
    std::exception_ptr error;
  };
  std::vector<Submitted> submit_together(std::vector<Request> requests);
  EngineStats stats() const;
  // Whether the loop thread is running, did not end by an exception, and has beaten its
  // heartbeat within config().stall_seconds. Any thread.
  EngineHealth health() const;

  // Stops taking requests. drain: finish every accepted request first; otherwise end them with
  // an Error event of kind Unavailable. Returns when the loop thread has ended. Not for
  // concurrent calls.
  void shutdown(bool drain = true);

  const EngineConfig& config() const { return config_; }

 private:
  struct Incoming {
    int64_t id;
    Request request;
    std::weak_ptr<RequestHandle> handle;
  };
  struct Live {
    std::weak_ptr<RequestHandle> handle;
    bool logprobs;
  };

  void loop();
  void run_loop();
  void watchdog();
  void end_stalled(const std::string& why);
  void loop_died(const std::string& why);
  void beat();
  void step();
  void admit(std::vector<Incoming>& fresh);
  void reap_cancelled(const std::vector<int64_t>& ids);
  void end_all(ErrorKind kind, const std::string& why);
  void deliver(const std::vector<StepOutput>& outs, int32_t batch_tokens, int32_t batch_sequences);
  void push_events(const StepOutput& out);
  void publish_stats(int32_t batch_tokens, int32_t batch_sequences);
  std::shared_ptr<RequestHandle> enqueue(Request request);  // validated; mu_ held
  void run_embeddings(std::vector<Incoming>& embeds);
  std::vector<float> embed(const std::vector<int32_t>& tokens);
  std::vector<std::vector<float>> embed_together(const std::vector<const std::vector<int32_t>*>& inputs);
  KvCache& embed_kv();
  int32_t embed_kv_blocks() const;
  std::unique_ptr<KvCache> embed_kv_;  // loop thread only; made on first use
  void score_prompts(std::vector<Incoming>& fresh);
  std::unique_ptr<Session> score_session_;  // loop thread only; made on first use

  const Model& model_;
  std::unique_ptr<Backend> backend_;
  const Tokenizer* tokenizer_;
  EngineConfig config_;
  std::unique_ptr<KvCache> kv_;
  BlockManager blocks_;
  PrefixCache cache_;
  Scheduler scheduler_;
  StepLogits step_logits_;  // loop thread only: the last step's rows
  int64_t busy_steps_ = 0;  // loop thread only: HAYATE_PROFILE's burst of steps
  std::chrono::steady_clock::time_point busy_since_{};
  std::unordered_map<int64_t, Live> live_;    // loop thread only
  int64_t n_finished_ = 0;                    // loop thread only
  int64_t n_by_reason_[kFinishReasons] = {};  // loop thread only: by FinishReason
  const std::shared_ptr<CancelInbox> cancels_ = std::make_shared<CancelInbox>();

  std::atomic<int64_t> heartbeat_ns_{0};  // steady_clock of the loop's last beat
  std::atomic<bool> loop_running_{false};
  std::atomic<int64_t> stalls_{0};

  mutable std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  std::vector<Incoming> incoming_;
  int32_t n_waiting_ = 0;  // the scheduler's waiting queue, as of the last step
  bool accepting_ = true, draining_ = false, stop_now_ = false;
  std::string loop_error_;  // why the loop ended by an exception; empty while it runs
  int64_t next_id_ = 0;
  EngineStats stats_;
  // Every accepted request's handle, for the watchdog to end when the loop is stuck (pruned of
  // finished ones as it grows).
  std::vector<std::weak_ptr<RequestHandle>> accepted_;
  size_t prune_at_ = 64;
  bool watchdog_stop_ = false;
  std::condition_variable watchdog_wake_;
  std::thread thread_, watchdog_;
};

}  // namespace hayate
